// XNNPACK baseline: NHWC fp32 convolution (dense, grouped and depthwise — XNNPACK picks its depthwise
// micro-kernels itself when a group has one input and one output channel). Only a min/max clamp can be
// fused; other activations (SiLU, sigmoid...) are NOT applied, so its rows with those are a lower bound.
#pragma once

#include <memory>
#include <vector>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::bench {

class XnnpackConv {
 public:
  XnnpackConv(const kernels::ConvShape& s, const float* w_oihw, const float* bias_or_null, const kernels::Epilogue& ep,
              int threads);
  ~XnnpackConv();
  void set_input_nchw(const float* in);  // transposes to NHWC (untimed)
  void run();
  std::vector<float> output_nchw() const;
  // Whether the epilogue was applied (false for activations XNNPACK cannot fuse).
  bool act_fused() const { return act_fused_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool act_fused_ = true;
};

}  // namespace hilsim::bench
