// Depthwise convolution (groups == c == f) on NCHW fp32, one channel plane per work item: the plane is
// copied into a zero-padded scratch (so the inner loops have no bounds checks), then each output row
// is a row micro-kernel. AVX-512 and AVX2 row kernels for 3x3 and 5x5, stride 1 and 2; any other kernel
// size, stride or dilation runs the portable row kernel.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

// w_oihw: [c, 1, kh, kw]; bias: c values or null. Throws hilsim::Error if the shape is not depthwise.
// The ISA defaults to active_isa(), as for dense convs.
std::unique_ptr<PreparedConv> prepare_depthwise_conv(const ConvShape& shape, const float* w_oihw,
                                                     const float* bias_or_null, const Epilogue& ep,
                                                     Isa isa = active_isa());

// The name prepare_depthwise_conv's kernel reports on a CPU running `isa`, without preparing one (the
// cost model names the kernel of another machine's profile): e.g. "depthwise_conv3x3_f32_dwconv_3x3s1_avx512".
std::string depthwise_conv_kernel_name(const ConvShape& shape, Isa isa);

// One output row of a depthwise conv from a zero-padded plane. `in` points at the padded input row of
// ky = 0 for this output row, `pw` is the padded row stride; out[ow] for ow in [0, ow_count). The
// padded rows must be readable up to 64 floats past the last window (vector over-read).
// One call computes `rows` output rows of one plane: row r reads the padded input from in + r * in_step
// and writes out + r * out_step. Kernels that keep several rows in flight share the input rows their
// windows overlap on.
struct DwRowArgs {
  const float* in;
  size_t pw;
  const float* w;  // kh * kw
  float bias;
  size_t ow_count;
  float* out;
  int kh, kw, stride_w, dil_h, dil_w;
  const Epilogue* ep;
  size_t rows = 1;
  size_t in_step = 0;   // floats: stride_h * pw
  size_t out_step = 0;  // floats: the output row length
};
using DwRowFn = void (*)(const DwRowArgs& a);
void f32_dwconv_row_generic(const DwRowArgs& a);
#if defined(__x86_64__)
void f32_dwconv_3x3s1_row_avx2(const DwRowArgs& a);
void f32_dwconv_3x3s2_row_avx2(const DwRowArgs& a);
void f32_dwconv_5x5s1_row_avx2(const DwRowArgs& a);
void f32_dwconv_5x5s2_row_avx2(const DwRowArgs& a);
void f32_dwconv_3x3s1_row_avx512(const DwRowArgs& a);
void f32_dwconv_3x3s2_row_avx512(const DwRowArgs& a);
void f32_dwconv_5x5s1_row_avx512(const DwRowArgs& a);
void f32_dwconv_5x5s2_row_avx512(const DwRowArgs& a);
#endif

}  // namespace hilsim::kernels
