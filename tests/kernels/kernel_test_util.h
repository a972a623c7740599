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

namespace hilsim::kernels::testing {

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

// Naive direct convolution over NCHW / OIHW (double accumulation), then bias and activation.
inline std::vector<float> conv_ref(const ConvShape& s, const std::vector<float>& in, const std::vector<float>& w,
                                   const float* bias, const Epilogue& ep) {
  const int64_t OH = s.out_h(), OW = s.out_w(), cg = s.c / s.groups, fg = s.f / s.groups;
  std::vector<float> out(static_cast<size_t>(s.n * s.f * OH * OW));
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t f = 0; f < s.f; ++f) {
      const int64_t g = f / fg;
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = bias ? bias[f] : 0.0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < s.kh; ++ky) {
              const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dil_h;
              if (iy < 0 || iy >= s.h) continue;
              for (int64_t kx = 0; kx < s.kw; ++kx) {
                const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dil_w;
                if (ix < 0 || ix >= s.w) continue;
                acc += static_cast<double>(in[((b * s.c + g * cg + c) * s.h + iy) * s.w + ix]) *
                       w[((f * cg + c) * s.kh + ky) * s.kw + kx];
              }
            }
          out[((b * s.f + f) * OH + oy) * OW + ox] = apply_act(ep, static_cast<float>(acc));
        }
    }
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
