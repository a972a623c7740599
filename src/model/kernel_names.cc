#include "hilsim/model/kernel_names.h"

#include <algorithm>

#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/runtime/sparse_select.h"
#include "hilsim/util/error.h"

namespace hilsim::model {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// "3x5..." at `pos` -> kh = 3, kw = 5; false unless the digits are followed by "_" or the end.
bool parse_kernel_size(const std::string& s, size_t pos, int64_t* kh, int64_t* kw) {
  const size_t x = s.find('x', pos);
  if (x == std::string::npos || x == pos || x - pos > 2) return false;
  size_t end = x + 1;
  while (end < s.size() && end - x <= 2 && s[end] >= '0' && s[end] <= '9') ++end;
  if (end == x + 1 || (end < s.size() && s[end] != '_')) return false;
  for (size_t i = pos; i < x; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  *kh = std::stoll(s.substr(pos, x - pos));
  *kw = std::stoll(s.substr(x + 1, end - x - 1));
  return true;
}

// The sparse engine's kernels are SparseFormat::name() + "_" + the ISA.
std::string without_isa(const std::string& k) {
  for (const char* isa : {"_avx512", "_avx2", "_generic"}) {
    const std::string suffix(isa);
    if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0)
      return k.substr(0, k.size() - suffix.size());
  }
  return k;
}

}  // namespace

std::optional<kernels::Isa> dispatch_isa(const DeviceInfo& d) {
  if (d.isa.empty()) return std::nullopt;
  auto has = [&](const char* f) { return std::find(d.isa.begin(), d.isa.end(), f) != d.isa.end(); };
  // The kernels' own rule (cpu_features.cc) less avx512dq, which profiles do not record: every CPU
  // with AVX-512 BW and VL has DQ too.
  if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("fma")) return kernels::Isa::kAvx512;
  if (has("avx2") && has("fma")) return kernels::Isa::kAvx2;
  return kernels::Isa::kGeneric;
}

std::string conv_kernel_name(const kernels::ConvShape& s, const runtime::LayerSparsity& ls,
                             std::optional<kernels::Isa> isa) {
  switch (runtime::conv_family(s, ls)) {
    case runtime::ConvFamily::kSparse: {
      const kernels::SparseFormat f = runtime::sparse_format_of(ls);
      return isa ? kernels::sparse_conv_kernel_name(f, *isa) : f.name();
    }
    case runtime::ConvFamily::kDepthwise:
      return isa ? kernels::depthwise_conv_kernel_name(s, *isa)
                 : "depthwise_conv" + std::to_string(s.kh) + "x" + std::to_string(s.kw);
    case runtime::ConvFamily::kDense: break;
  }
  if (isa) return kernels::dense_conv_kernel_name(s, *isa);
  return kernels::dense_conv_gemm_rows(s) > 0 ? "gemm" : "dense_conv" + std::to_string(s.kh) + "x" + std::to_string(s.kw);
}

std::string kernel_class_of(const std::string& kernel) {
  int64_t kh = 0, kw = 0;
  if (starts_with(kernel, "dense_conv") && parse_kernel_size(kernel, 10, &kh, &kw))
    return conv_kernel_class(runtime::ConvFamily::kDense, kh, kw, 1);
  if (starts_with(kernel, "depthwise_conv") && parse_kernel_size(kernel, 14, &kh, &kw))
    return conv_kernel_class(runtime::ConvFamily::kDepthwise, kh, kw, 1);
  if (starts_with(kernel, "gemm_")) return "gemm";
  const std::string base = without_isa(kernel);
  if (starts_with(base, "block_") || starts_with(base, "pattern_") || base == "csr_1x1" ||
      starts_with(base, "detected_rows")) {
    try {
      return conv_kernel_class(runtime::ConvFamily::kSparse, 0, 0,
                               kernels::SparseFormat::from_name(base, "kernel").row_height());
    } catch (const Error&) {
      return "";
    }
  }
  return "";
}

std::string run_op_class(const std::string& type, const std::string& kernel) {
  std::string c = kernel_class_of(kernel);
  if (!c.empty() || type == "Conv") return c;
  // A constant-weight Gemm/MatMul runs gemm_*; any other op, MatMul of two activations included, is
  // priced by its memory class, as op_instance does.
  return memory_class(type);
}

}  // namespace hilsim::model
