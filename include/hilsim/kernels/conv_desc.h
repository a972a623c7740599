// What a convolution computes, independent of how: oneDNN's "describe, then create, then execute".
// A ConvShape + Epilogue describe the problem; a prepare_* function packs weights once into a
// PreparedConv; run() is cheap and repeatable. Activations are NCHW fp32, weights OIHW (as ONNX).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hilsim/kernels/thread_pool.h"

namespace hilsim::kernels {

enum class Act { kNone, kRelu, kClip, kSigmoid, kSiLU, kHardSwish, kHardSigmoid };

// Fused bias + activation applied as each output tile is written (ReLU6 = kClip with 0..6).
struct Epilogue {
  Act act = Act::kNone;
  float min = 0.0f, max = 6.0f;      // kClip
  float alpha = 0.2f, beta = 0.5f;   // kHardSigmoid
};

const char* act_name(Act a);
float apply_act(const Epilogue& e, float x);
// Applies the activation to n contiguous values in place (vectorised where the CPU allows).
void apply_act_inplace(const Epilogue& e, float* x, int64_t n);

struct ConvShape {
  int64_t n = 1, c = 0, h = 0, w = 0;  // input N, C, H, W
  int64_t f = 0;                       // output channels
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;

  int64_t out_h() const { return (h + pad_top + pad_bottom - dil_h * (kh - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (w + pad_left + pad_right - dil_w * (kw - 1) - 1) / stride_w + 1; }
  int64_t weight_count() const { return f * (c / groups) * kh * kw; }
  // Dense MACs: output elements x (C / groups) x kh x kw.
  int64_t macs() const { return n * f * out_h() * out_w() * (c / groups) * kh * kw; }
  bool is_depthwise() const { return groups == c && groups == f && groups > 1; }
  std::string str() const;   // e.g. "c64f128h40w40k3x3s1p1g1"
  void validate() const;     // throws hilsim::Error naming the bad field
};

// A convolution with weights packed for one kernel; run() may be called many times, concurrently.
class PreparedConv {
 public:
  virtual ~PreparedConv() = default;
  // in: [n, c, h, w]; out: [n, f, out_h, out_w]. Uses `pool` for parallelism.
  virtual void run(const float* in, float* out, ThreadPool& pool) const = 0;
  // A name that says what runs, e.g. "dense_conv3x3_avx512", "block_punched_8x4_avx512".
  virtual std::string kernel_name() const = 0;
  // Bytes of the packed weights in their storage format (values + indices + bias).
  virtual int64_t weight_bytes() const = 0;
  // MACs actually executed (sparse kernels skip pruned weights).
  virtual int64_t executed_macs() const = 0;
  const ConvShape& shape() const { return shape_; }

 protected:
  explicit PreparedConv(const ConvShape& s) : shape_(s) {}
  ConvShape shape_;
};

}  // namespace hilsim::kernels
