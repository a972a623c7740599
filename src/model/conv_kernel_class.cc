#include "hilsim/model/conv_kernel_class.h"

#include "hilsim/kernels/depthwise_conv.h"

namespace hilsim::model {

namespace {
std::string window(int64_t kh, int64_t kw) { return std::to_string(kh) + "x" + std::to_string(kw); }
}  // namespace

std::string conv_kernel_class(runtime::ConvFamily family, int64_t kh, int64_t kw, int row_height) {
  const bool square = kh == kw;
  switch (family) {
    case runtime::ConvFamily::kSparse: return "sparse_fb" + std::to_string(row_height);
    case runtime::ConvFamily::kDepthwise:
      if (kernels::depthwise_window_has_vector_kernel(kh, kw)) return "depthwise_conv" + window(kh, kw);
      break;
    case runtime::ConvFamily::kDense: break;
  }
  if (square && (kh == 1 || kh == 3 || kh == 5)) return "dense_conv" + window(kh, kw);
  return "dense_convkxk";
}

std::string older_conv_class(const std::string& klass) {
  return klass == "depthwise_conv7x7" ? "dense_convkxk" : "";
}

}  // namespace hilsim::model
