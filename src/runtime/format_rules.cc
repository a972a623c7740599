#include "hilsim/runtime/format_rules.h"

#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/runtime/sparse_select.h"

namespace hilsim::runtime {

std::string format_problem(const kernels::ConvShape& s, const LayerSparsity& ls) {
  if (ls.format == Format::kDense) return "";
  return kernels::sparse_format_problem(s, sparse_format_of(ls));
}

ConvFamily conv_family(const kernels::ConvShape& s, const LayerSparsity& ls) {
  if (ls.format != Format::kDense && !kernels::dense_conv_runs_as_gemm(s)) return ConvFamily::kSparse;
  return s.is_depthwise() ? ConvFamily::kDepthwise : ConvFamily::kDense;
}

}  // namespace hilsim::runtime
