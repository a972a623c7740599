// Dense convolution on NCHW fp32: im2col of a strip of output pixels into a packed panel (on the fly,
// per cache block) + the GEMM micro-kernel of gemm.h, with bias and activation fused into the tile store.
// 3x3 stride-1 convs with row strips (kernels/dense_tiling) skip the panel on every ISA: implicit GEMM
// from a zero-padded copy of the input rows (f32_conv3x3_rows_8x32_<isa>, "igemm" in the kernel name).
// Any kernel size, stride, asymmetric padding, dilation and groups; depthwise shapes go to
// depthwise_conv.h. A 1x1 conv on a 1x1 map runs as a GEMM (dense_conv_runs_as_gemm).
#pragma once

#include <memory>
#include <string>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/dense_tiling.h"

namespace hilsim::kernels {

// w_oihw: [f, c / groups, kh, kw]; bias: f values or null. Packs the weights once; throws hilsim::Error
// naming the bad field of `shape`. The ISA defaults to active_isa() (HILSIM_ISA lowers it).
std::unique_ptr<PreparedConv> prepare_dense_conv(const ConvShape& shape, const float* w_oihw,
                                                 const float* bias_or_null, const Epilogue& ep,
                                                 Isa isa = active_isa());

// dense_conv_runs_as_gemm and dense_conv_gemm_rows (which convs run as a GEMM) live with the tiling
// rule in dense_tiling.h.

// The name prepare_dense_conv's kernel reports on a CPU running `isa`, without preparing one:
// e.g. "dense_conv3x3_f32_gemm_8x32_avx512", or the GEMM's ("gemm_f32_gemm_8x32_avx2") for a conv that
// runs as one.
std::string dense_conv_kernel_name(const ConvShape& shape, Isa isa);

}  // namespace hilsim::kernels
