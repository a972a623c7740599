#include "hilsim/calibration/instances.h"

#include <algorithm>
#include <cmath>

#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

std::string conv_class(const kernels::ConvShape& s, const std::string& format, int bf, int bc, int entries) {
  if (format == "dense" || format.empty()) return dense_conv_class(s.kh, s.kw, s.is_depthwise());
  if (format == "block") return "block_" + std::to_string(bf) + "x" + std::to_string(bc);
  if (format == "block_col") return "block_col_" + std::to_string(bf) + "x" + std::to_string(bc);
  if (format == "pattern") return "pattern_" + std::to_string(entries) + "ep";
  if (format == "csr") return "csr_1x1";
  throw Error("format '" + format + "'", "unknown storage format (dense, block, block_col, pattern, csr)");
}

KernelInstance conv_instance(const std::string& klass, const kernels::ConvShape& s, int threads, int64_t executed_macs,
                             int64_t weight_bytes) {
  KernelInstance k;
  k.klass = klass;
  k.threads = threads;
  k.macs = s.macs();
  k.executed_macs = executed_macs;
  k.in_bytes = s.n * s.c * s.h * s.w * 4;
  k.out_bytes = s.n * s.f * s.out_h() * s.out_w() * 4;
  k.weight_bytes = weight_bytes;
  const int64_t pixels = s.n * s.out_h() * s.out_w();
  k.out_tiles = ceil_div(s.f, kTileFilters) * ceil_div(pixels, kTilePixels);
  k.work_items = k.out_tiles;
  return k;
}

SparseFootprint conv_footprint(const kernels::ConvShape& s, const std::string& format, double ratio, int bf, int bc,
                               int entries, bool bias) {
  SparseFootprint fp;
  const int64_t w = s.weight_count();
  const int64_t bias_bytes = bias ? s.f * 4 : 0;
  ratio = std::clamp(ratio, 0.0, 1.0);
  if (format == "dense" || format.empty()) {
    fp.executed_macs = s.macs();
    fp.weight_bytes = w * 4 + bias_bytes;
  } else if (format == "block" || format == "block_col") {
    // Kept units are whole kernel positions of a bf x bc block (or columns of bf filters): the kept
    // fraction is 1 - ratio to the unit granularity. Storage: values + one int32 input-column index per
    // kept column of each block row.
    const int64_t cg = s.c / s.groups;
    const int64_t units = format == "block" ? ceil_div(s.f, bf) * ceil_div(cg, bc) * s.kh * s.kw
                                            : ceil_div(s.f, bf) * cg * s.kh * s.kw;
    const int64_t kept_units = units - std::llround(ratio * static_cast<double>(units));
    const double kept = units ? static_cast<double>(kept_units) / static_cast<double>(units) : 0.0;
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * kept);
    const int64_t kept_w = std::llround(static_cast<double>(w) * kept);
    const int64_t kept_cols = std::llround(static_cast<double>(ceil_div(s.f, bf) * cg * s.kh * s.kw) * kept);
    fp.weight_bytes = kept_w * 4 + kept_cols * 4 + (ceil_div(s.f, bf) + 1) * 4 + bias_bytes;
  } else if (format == "pattern") {
    const double kept = static_cast<double>(entries) / 9.0;
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * kept);
    const int64_t kernels = s.kh * s.kw == 9 ? s.f * (s.c / s.groups) : s.f * ceil_div(s.c / s.groups, 9);
    fp.weight_bytes = kernels * entries * 4 + kernels + bias_bytes;  // values + one pattern id byte each
  } else if (format == "csr") {
    const int64_t nnz = w - std::llround(ratio * static_cast<double>(w));
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * (1.0 - ratio));
    fp.weight_bytes = nnz * 8 + (s.f + 1) * 4 + bias_bytes;
  } else {
    throw Error("format '" + format + "'", "unknown storage format");
  }
  return fp;
}

KernelInstance gemm_instance(int64_t m, int64_t n, int64_t k, int threads, bool bias) {
  KernelInstance g;
  g.klass = "gemm";
  g.threads = threads;
  g.macs = g.executed_macs = m * n * k;
  g.in_bytes = m * k * 4;
  g.out_bytes = m * n * 4;
  g.weight_bytes = (n * k + (bias ? n : 0)) * 4;
  g.out_tiles = ceil_div(n, kTilePixels) * ceil_div(m, kTileFilters);
  g.work_items = g.out_tiles;
  return g;
}

KernelInstance memory_instance(const std::string& klass, int64_t in_bytes, int64_t out_bytes, int threads) {
  KernelInstance k;
  k.klass = klass;
  k.threads = threads;
  k.in_bytes = in_bytes;
  k.out_bytes = out_bytes;
  k.work_items = std::max<int64_t>(1, out_bytes / 4096);
  return k;
}

}  // namespace hilsim::calibration
