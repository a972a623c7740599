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

// How a pruned conv keeps its weights, and so which sparse kernel runs it. One name per kernel:
// block_8x4, block_col_8x4, pattern_2ep, csr_1x1, detected_rows8 (weights that already carried zeros).
enum class SparseKind { kBlock, kBlockCol, kPattern, kCsr, kDetected };

struct SparseFormat {
  SparseKind kind = SparseKind::kBlock;
  int bf = 8, bc = 4;   // block formats: filters x channels per block; kDetected: the row height in bf
  int entries = 2;      // pattern: kept positions per 3x3 kernel
  double ratio = 0.0;   // block and csr: share of pruning units removed

  // Filters per packed row, one of 1, 2, 4, 8, 16 (the micro-kernel heights). Blocks of 32 filters run
  // as two rows of 16: the two halves keep the same columns, so nothing is padded.
  int row_height() const;
  std::string name() const;
  // The inverse of name(); throws hilsim::Error naming `where` for anything else.
  static SparseFormat from_name(const std::string& name, const std::string& where);
};

// The oneDNN-style descriptor of a conv: what it computes (shape, fused epilogue) and, for the sparse
// engine, how its weights are kept.
struct ConvDesc {
  ConvShape shape;
  Epilogue ep;
  SparseFormat sparse;
};

// A convolution with weights packed for one kernel; run() may be called many times, concurrently.
class PreparedConv {
 public:
  virtual ~PreparedConv() = default;
  // in: [n, c, h, w]; out: [n, f, out_h, out_w]. Uses `pool` for parallelism.
  virtual void run(const float* in, float* out, ThreadPool& pool) const = 0;
  // A name that says what runs, e.g. "dense_conv3x3_avx512", "block_8x4_avx512".
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
