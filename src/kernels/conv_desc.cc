#include "hilsim/kernels/conv_desc.h"

#include <algorithm>
#include <bit>
#include <cstdint>
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

namespace {

// 1 / (1 + e^-x) by the vector kernels' algorithm (x86/vec_math_avx512.h: magic-bias rounding of
// -x log2(e), degree-4 minimax 2^f, exponent bits for 2^n), branch-free so the loops below vectorise
// (NEON, SSE) where std::exp stays a call per value; rel. err < 1e-5 (the kernels allow 1e-4).
inline float sigmoid_f32(float x) {
  // Two selects into new names: a nested ternary assigned back to x left GCC's loops scalar.
  const float lo = x < -88.3f ? -88.3f : x;
  const float xc = lo > 88.3f ? 88.3f : lo;
  constexpr float kMagic = 12583039.0f;  // 1.5 * 2^23 + 127: the sum's low bits are n + 127
  const float nb = xc * -1.44269504088896341f + kMagic;
  const float n = nb - kMagic;
  const float f = xc * -1.44269504088896341f - n;
  float p = 9.570102207e-03f;
  p = p * f + 5.591786280e-02f;
  p = p * f + 2.402474433e-01f;
  p = p * f + 6.931217909e-01f;
  p = p * f + 9.999992847e-01f;
  const float s = std::bit_cast<float>(std::bit_cast<uint32_t>(nb) << 23);  // 2^n
  return 1.0f / (p * s + 1.0f);
}

// The low clamp bounds the factor x too, as in the vector kernels: silu(-3e38) ~ -4e-37, not -1.4.
inline float silu_f32(float x) { return (x < -88.3f ? -88.3f : x) * sigmoid_f32(x); }

// x + 3 is exact near -3 (x / 6 + 1/2 would cancel); x * (t / 6) cannot overflow where x * t can.
inline float hardswish_f32(float x) {
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
  return x * (t * (1.0f / 6.0f));
}

}  // namespace

float apply_act(const Epilogue& e, float x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return x > 0.0f ? x : 0.0f;
    case Act::kClip: return x < e.min ? e.min : (x > e.max ? e.max : x);
    case Act::kSigmoid: return sigmoid_f32(x);
    case Act::kSiLU: return silu_f32(x);
    case Act::kHardSwish: return hardswish_f32(x);
    case Act::kHardSigmoid: {
      float t = e.alpha * x + e.beta;
      return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    }
  }
  return x;
}

// One loop per activation: a switch inside the loop kept it scalar.
void apply_act_inplace(const Epilogue& e, float* x, int64_t n) {
  switch (e.act) {
    case Act::kNone: return;
    case Act::kSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = sigmoid_f32(x[i]);
      return;
    case Act::kSiLU:
      for (int64_t i = 0; i < n; ++i) x[i] = silu_f32(x[i]);
      return;
    case Act::kHardSwish:
      for (int64_t i = 0; i < n; ++i) x[i] = hardswish_f32(x[i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) x[i] = apply_act(e, x[i]);
      return;
  }
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


int SparseFormat::row_height() const {
  switch (kind) {
    case SparseKind::kBlock:
    case SparseKind::kBlockCol: return std::min(bf, 16);
    case SparseKind::kDetected: return bf;
    case SparseKind::kPattern:
    case SparseKind::kCsr: return 1;
  }
  return 1;
}

std::string SparseFormat::name() const {
  const std::string block = std::to_string(bf) + "x" + std::to_string(bc);
  switch (kind) {
    case SparseKind::kBlock: return "block_" + block;
    case SparseKind::kBlockCol: return "block_col_" + block;
    case SparseKind::kPattern: return "pattern_" + std::to_string(entries) + "ep";
    case SparseKind::kCsr: return "csr_1x1";
    case SparseKind::kDetected: return "detected_rows" + std::to_string(bf);
  }
  return "sparse";
}

SparseFormat SparseFormat::from_name(const std::string& name, const std::string& where) {
  SparseFormat f;
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos)
      throw Error(where, "unknown sparse kernel '" + name + "'");
    return std::stoi(s);
  };
  auto block = [&](const std::string& rest) {
    const size_t x = rest.find('x');
    if (x == std::string::npos) throw Error(where, "unknown sparse kernel '" + name + "'");
    f.bf = number(rest.substr(0, x));
    f.bc = number(rest.substr(x + 1));
  };
  if (name.rfind("block_col_", 0) == 0) {
    f.kind = SparseKind::kBlockCol;
    block(name.substr(10));
  } else if (name.rfind("block_", 0) == 0) {
    f.kind = SparseKind::kBlock;
    block(name.substr(6));
  } else if (name.rfind("pattern_", 0) == 0 && name.size() > 10 && name.substr(name.size() - 2) == "ep") {
    f.kind = SparseKind::kPattern;
    f.entries = number(name.substr(8, name.size() - 10));
  } else if (name == "csr_1x1") {
    f.kind = SparseKind::kCsr;
  } else if (name.rfind("detected_rows", 0) == 0) {
    f.kind = SparseKind::kDetected;
    f.bf = number(name.substr(13));
  } else {
    throw Error(where, "unknown sparse kernel '" + name + "'");
  }
  if (f.name() != name) throw Error(where, "unknown sparse kernel '" + name + "'");
  return f;
}

}  // namespace hilsim::kernels
