// Memory-bound kernels of a CNN (pooling, elementwise, concat, resize, activation) on NCHW fp32:
// plain loops the compiler vectorises, split over a ThreadPool by channel planes or contiguous chunks.
#pragma once

#include <cstdint>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/thread_pool.h"

namespace hilsim::kernels {

// A 2-D pooling window over [n, c, h, w]: what the kernels' shape and the reference's share.
struct PoolWindow {
  int64_t n = 1, c = 0, h = 0, w = 0;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool count_include_pad = false;  // average pooling only (ONNX attribute)
};

// The kernels' pooling shape. out_h/out_w come from the caller (ceil_mode and auto_pad are resolved
// there); windows may run past the padded input (ceil_mode): those positions are ignored.
struct Pool2dShape : PoolWindow {
  int64_t out_h = 0, out_w = 0;
  void validate() const;  // throws hilsim::Error naming the bad field
};

// What the separable pooling passes do beyond moving bytes: the horizontal pass over every padded row
// and the vertical pass over every row of its result (stride 1; strided rows are picked after), one
// compare/add each; `strided_ops` are the horizontal ones of a strided window, which gather every
// stride-th value instead of streaming. A cost model's features, kept beside the kernel so they follow
// its algorithm. `rows` counts the inner loops the kernel starts: each input row copied into its padded
// plane and each output row copied out, and a loop per tap per stack of planes (the passes run over
// stacks of small planes as one array).
struct PoolWork {
  int64_t ops = 0;
  int64_t strided_ops = 0;
  int64_t rows = 0;
};
PoolWork pool2d_work(const Pool2dShape& s);

void max_pool2d(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool);
void avg_pool2d(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool);
// [n, c, hw] -> [n, c]
void global_avg_pool(int64_t n, int64_t c, int64_t hw, const float* in, float* out, ThreadPool& pool);

enum class BinaryOp { kAdd, kMul, kSub, kDiv, kMax, kMin, kFmod };
// out = act(a op b), a - b and a / b for kSub and kDiv, C's fmod(a, b) for kFmod (ONNX Mod on floats), with numpy broadcasting (shapes right-aligned;
// a size-1 dim stretches). Shapes of rank <= 8; out has the broadcast shape. Per-channel ([c,1,1] /
// [1,c,1,1]) and scalar b are fast.
std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
void binary_op(BinaryOp op, const std::vector<int64_t>& a_shape, const float* a, const std::vector<int64_t>& b_shape,
               const float* b, float* out, ThreadPool& pool, const Epilogue& ep = {});

// out = cond ? a : b (ONNX Where) with numpy broadcasting of all three (rank <= 8); cond holds 0/1 bytes.
void where_select(const std::vector<int64_t>& cond_shape, const uint8_t* cond, const std::vector<int64_t>& a_shape,
                  const float* a, const std::vector<int64_t>& b_shape, const float* b, float* out, ThreadPool& pool);

// Concatenates tensors along `axis` (negative counts from the end); all other dims must agree.
void concat(const std::vector<const float*>& inputs, const std::vector<std::vector<int64_t>>& shapes, int64_t axis,
            float* out, ThreadPool& pool);

// Nearest-neighbour resize of [n, c, h, w] to [n, c, out_h, out_w], ONNX coordinate mode "asymmetric"
// with nearest mode "floor" (what Upsample/Resize x2 in YOLO heads use): iy = floor(oy * h / out_h).
void resize_nearest(int64_t n, int64_t c, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const float* in,
                    float* out, ThreadPool& pool);

// Applies the activation to n values in place, vectorised for the active ISA.
void activation_inplace(const Epilogue& ep, float* x, int64_t n, ThreadPool& pool);

}  // namespace hilsim::kernels
