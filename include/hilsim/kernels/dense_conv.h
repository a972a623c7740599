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

namespace hilsim::kernels {

// w_oihw: [f, c / groups, kh, kw]; bias: f values or null. Packs the weights once; throws hilsim::Error
// naming the bad field of `shape`. The ISA defaults to active_isa() (HILSIM_ISA lowers it).
std::unique_ptr<PreparedConv> prepare_dense_conv(const ConvShape& shape, const float* w_oihw,
                                                 const float* bias_or_null, const Epilogue& ep,
                                                 Isa isa = active_isa());

// A 1x1 conv on a 1x1 map (squeeze-excite's two convs, a conv classifier) is a matrix-vector product
// per image: it runs as a GEMM with the images as rows, on the thin-row tiles, weights read once. As a
// conv its 32-pixel tiles computed 32 lanes for the one pixel: SE convs ran at ~7 GB/s of weights.
// The cost model prices these as the gemm class (model::conv_class).
bool dense_conv_runs_as_gemm(const ConvShape& shape);

// The rows of the GEMM that the dense kernel runs this conv as, or 0 where it runs as a conv: the images
// of a 1x1 map (dense_conv_runs_as_gemm), or the pixels of a 1x1, stride-1, unpadded, ungrouped conv on
// a plane small enough for pixel rows (kernels/dense_tiling): its weights packed once as B, the input
// read as A transposed, the same loops and tiles as PreparedGemm (plus the output's transpose). The cost
// model prices both as the gemm class: ResNeXt-101's 16 MiB 1x1 layers on 3x3 maps stream their
// weights under their MACs as a classifier GEMM does, which the conv class's additive terms priced at
// 1.6x on 2 threads. Sparse formats still run these convs on the sparse engine (only a 1x1 map keeps
// its zeros dense, runtime::conv_family).
int64_t dense_conv_gemm_rows(const ConvShape& shape);

// The name prepare_dense_conv's kernel reports on a CPU running `isa`, without preparing one:
// e.g. "dense_conv3x3_f32_gemm_8x32_avx512", or the GEMM's ("gemm_f32_gemm_8x32_avx2") for a conv that
// runs as one.
std::string dense_conv_kernel_name(const ConvShape& shape, Isa isa);

}  // namespace hilsim::kernels
