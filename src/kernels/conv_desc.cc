#include "hilsim/kernels/conv_desc.h"

#include <cmath>
#include <sstream>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

const char* act_name(Act a) {
  switch (a) {
    case Act::kNone: return "none";
    case Act::kRelu: return "relu";
    case Act::kClip: return "clip";
    case Act::kSigmoid: return "sigmoid";
    case Act::kSiLU: return "silu";
    case Act::kHardSwish: return "hardswish";
    case Act::kHardSigmoid: return "hardsigmoid";
  }
  return "none";
}

float apply_act(const Epilogue& e, float x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return x > 0.0f ? x : 0.0f;
    case Act::kClip: return x < e.min ? e.min : (x > e.max ? e.max : x);
    case Act::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case Act::kSiLU: return x / (1.0f + std::exp(-x));
    case Act::kHardSwish: {
      float t = x + 3.0f;
      t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
      return x * t / 6.0f;
    }
    case Act::kHardSigmoid: {
      float t = e.alpha * x + e.beta;
      return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    }
  }
  return x;
}

void apply_act_inplace(const Epilogue& e, float* x, int64_t n) {
  if (e.act == Act::kNone) return;
  for (int64_t i = 0; i < n; ++i) x[i] = apply_act(e, x[i]);
}

std::string ConvShape::str() const {
  std::ostringstream os;
  os << "c" << c << "f" << f << "h" << h << "w" << w << "k" << kh << "x" << kw << "s" << stride_h;
  if (stride_w != stride_h) os << "x" << stride_w;
  os << "p" << pad_top;
  if (pad_left != pad_top || pad_bottom != pad_top || pad_right != pad_top)
    os << "_" << pad_left << "_" << pad_bottom << "_" << pad_right;
  if (dil_h != 1 || dil_w != 1) os << "d" << dil_h << "x" << dil_w;
  os << "g" << groups;
  if (n != 1) os << "n" << n;
  return os.str();
}

void ConvShape::validate() const {
  auto bad = [&](const char* field, const std::string& why) { throw Error("conv " + str() + ": field '" + field + "'", why); };
  if (n < 1) bad("n", "must be >= 1");
  if (c < 1) bad("c", "must be >= 1");
  if (f < 1) bad("f", "must be >= 1");
  if (h < 1 || w < 1) bad("h/w", "must be >= 1");
  if (kh < 1 || kw < 1) bad("kh/kw", "must be >= 1");
  if (stride_h < 1 || stride_w < 1) bad("stride", "must be >= 1");
  if (dil_h < 1 || dil_w < 1) bad("dilation", "must be >= 1");
  if (pad_top < 0 || pad_left < 0 || pad_bottom < 0 || pad_right < 0) bad("pads", "must be >= 0");
  if (groups < 1 || c % groups != 0 || f % groups != 0) bad("groups", "must divide both c and f");
  if (out_h() < 1 || out_w() < 1) bad("kh/kw", "kernel larger than the padded input");
}

}  // namespace hilsim::kernels
