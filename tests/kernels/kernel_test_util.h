// Shared helpers of the kernel testers: random data, plain reference loops, the error measure, and the
// ISA / epilogue lists every family is checked over.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/reference_ops.h"

namespace hilsim::kernels::testing {

// A conv shape: C -> F channels, H x W input, square kernel k, stride s, pads (top, left, bottom, right),
// dilation d, groups g, batch n.
inline ConvShape conv_shape(int64_t c, int64_t f, int64_t h, int64_t w, int64_t k, int64_t s, int64_t pt, int64_t pl,
                            int64_t pb, int64_t pr, int64_t d = 1, int64_t g = 1, int64_t n = 1) {
  ConvShape x;
  x.n = n, x.c = c, x.f = f, x.h = h, x.w = w, x.kh = x.kw = k, x.stride_h = x.stride_w = s;
  x.pad_top = pt, x.pad_left = pl, x.pad_bottom = pb, x.pad_right = pr, x.dil_h = x.dil_w = d, x.groups = g;
  return x;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The acceptance measure of the kernel issue: max |a - b| / max(1, max |b|).
inline double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  double max_diff = 0.0, max_ref = 1.0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
    max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
  }
  return max_diff / max_ref;
}

// The reference executor's direct convolution (double accumulation, bias), then the activation.
inline std::vector<float> conv_ref(const ConvShape& s, const std::vector<float>& in, const std::vector<float>& w,
                                   const float* bias, const Epilogue& ep) {
  std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()));
  ref_conv2d(s, in.data(), w.data(), bias, out.data());
  for (float& x : out) x = apply_act(ep, x);
  return out;
}

inline std::vector<Epilogue> all_epilogues() {
  std::vector<Epilogue> v;
  for (Act a : {Act::kNone, Act::kRelu, Act::kClip, Act::kSigmoid, Act::kSiLU, Act::kHardSwish, Act::kHardSigmoid}) {
    Epilogue e;
    e.act = a;
    if (a == Act::kClip) e.min = -0.5f, e.max = 0.75f;  // not ReLU6: both bounds must bite on [-1, 1] data
    if (a == Act::kHardSigmoid) e.alpha = 0.3f, e.beta = 0.4f;
    v.push_back(e);
  }
  return v;
}

inline std::string isa_label(Isa isa) { return isa_name(isa); }

}  // namespace hilsim::kernels::testing
