// Per-element and per-row arithmetic of exported graphs on contiguous fp32 tensors: standalone
// batch norm as a per-channel affine pass, unary math (erf, tanh, leaky relu, ...), reductions,
// softmax, layer norm and bilinear resize. Plain loops the compiler vectorises, split over a
// ThreadPool; nothing allocates while running.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/thread_pool.h"

namespace hilsim::kernels {

// out = act(x * scale[c] + shift[c]) over [n, c, inner] (inference batch norm with scale and shift
// folded once from gamma, beta, mean and variance). out may equal x.
void channel_affine(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale, const float* shift,
                    float* out, ThreadPool& pool, const Epilogue& ep = {});

enum class UnaryOp { kErf, kTanh, kLeakyRelu, kExp, kSqrt, kNeg, kAbs, kGelu, kGeluTanh, kSquare, kPow };
// out[i] = f(x[i]); `alpha` is LeakyRelu's slope and kPow's exponent. kGelu is
// x * 0.5 * (1 + erf(x / sqrt(2))), kGeluTanh its tanh form
// x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))); kSquare is x * x (Pow by 2, as decomposed layer norms export it).
void unary_op(UnaryOp op, const float* x, float* out, int64_t n, ThreadPool& pool, float alpha = 0.01f);

enum class ReduceOp { kMean, kSum, kMax };
// Sum of n contiguous floats in 16 partial sums (one order on every ISA, vectorised without
// reassociation): the sums of reduce, layer_norm and global_avg_pool.
float sum_floats(const float* x, int64_t n);

// Reduces the middle dim of [outer, red, inner] to [outer, inner]. inner == 1 is the global-pool case
// (each output a contiguous run); otherwise rows of `inner` are accumulated, unit stride throughout.
void reduce(ReduceOp op, int64_t outer, int64_t red, int64_t inner, const float* x, float* out, ThreadPool& pool);
// Any set of reduced axes: `offsets` holds the input offsets of one output's reduced elements and
// `bases` each output's first input offset (both precomputed once).
void reduce_gather(ReduceOp op, const std::vector<int64_t>& bases, const std::vector<int64_t>& offsets, const float* x,
                   float* out, ThreadPool& pool);

// Softmax over the middle dim of [outer, axis, inner].
void softmax(int64_t outer, int64_t axis, int64_t inner, const float* x, float* out, ThreadPool& pool);

// Layer norm of each row of [rows, width]: (x - mean) / sqrt(var + eps) * scale + bias, scale and
// bias of `width` values (bias may be null).
void layer_norm(int64_t rows, int64_t width, const float* x, const float* scale, const float* bias, float epsilon,
                float* out, ThreadPool& pool);

// Bilinear resize of [planes, h, w] to [planes, out_h, out_w]. Per output row / column: the two source
// indices and the weight of the second, precomputed by linear_taps.
struct LinearTaps {
  std::vector<int64_t> lo, hi;
  std::vector<float> frac;
};
// ONNX coordinate_transformation_mode (half_pixel, pytorch_half_pixel, align_corners, asymmetric);
// `scale` is out/in as the op gives it.
LinearTaps linear_taps(int64_t in, int64_t out, double scale, const std::string& coord);
void resize_linear(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const LinearTaps& ty,
                   const LinearTaps& tx, const float* x, float* out, ThreadPool& pool);

}  // namespace hilsim::kernels
