// Naive, obviously correct fp32 loops over plain arrays: the arithmetic of the reference executor.
// Kept free of the graph IR and beside the kernels, so the kernel tests check against them without
// reaching above their area. Every loop accumulates in
// double and walks the textbook definition; speed is not a goal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/memory_ops.h"

namespace hilsim::kernels {

// Activations as the fusion pass folds them (ReLU6 = kClip 0..6).
float ref_activation(const kernels::Epilogue& e, float x);
void ref_activation_inplace(const kernels::Epilogue& e, float* x, int64_t n);

// Direct convolution. in: [n, c, h, w]; w: [f, c / groups, kh, kw]; bias: [f] or nullptr;
// out: [n, f, s.out_h(), s.out_w()].
void ref_conv2d(const kernels::ConvShape& s, const float* in, const float* w, const float* bias, float* out);

// out[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n]; A is [m, k] ([k, m] when trans_a), B is
// [k, n] ([n, k] when trans_b). The C term of Gemm is added by the caller.
void ref_gemm(int64_t m, int64_t n, int64_t k, const float* a, bool trans_a, const float* b, bool trans_b,
              float alpha, float* out);

// Inference batch normalisation over [n, c, inner].
void ref_batchnorm(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale, const float* bias,
                   const float* mean, const float* var, float epsilon, float* out);

// The reference's pooling shape: the window plus what ONNX lets vary that the kernels take resolved.
// With count_include_pad, AveragePool divides by the window cells inside the padded input (not the
// ceil_mode overhang).
struct PoolShape : PoolWindow {
  int64_t dil_h = 1, dil_w = 1;
  bool ceil_mode = false;

  int64_t out_h() const;
  int64_t out_w() const;
};
// in: [n, c, h, w]; out: [n, c, out_h, out_w]. A window with no input cell gives -inf (max) / 0 (avg).
void ref_max_pool2d(const PoolShape& s, const float* in, float* out);
void ref_avg_pool2d(const PoolShape& s, const float* in, float* out);
// Over `planes` contiguous planes of `size` values each.
void ref_global_avg_pool(int64_t planes, int64_t size, const float* in, float* out);
void ref_global_max_pool(int64_t planes, int64_t size, const float* in, float* out);

// Softmax along the middle dim of [outer, len, inner].
void ref_softmax(int64_t outer, int64_t len, int64_t inner, const float* in, float* out);

// ONNX Resize on N-D row-major data. coord: asymmetric, half_pixel, pytorch_half_pixel, align_corners,
// tf_half_pixel_for_nearest; nearest: floor, ceil, round_prefer_floor, round_prefer_ceil;
// mode: nearest or linear (multilinear over every axis). Throws hilsim::Error for anything else.
void ref_resize(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& out_shape,
                const std::vector<double>& scales, const std::string& mode, const std::string& coord,
                const std::string& nearest, const float* in, float* out);

}  // namespace hilsim::kernels
