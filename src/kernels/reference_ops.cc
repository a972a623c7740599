#include "hilsim/kernels/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

float ref_activation(const kernels::Epilogue& e, float x) {
  switch (e.act) {
    case kernels::Act::kNone: return x;
    case kernels::Act::kRelu: return x > 0.0f ? x : 0.0f;
    case kernels::Act::kClip: return std::min(std::max(x, e.min), e.max);
    case kernels::Act::kSigmoid: return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x))));
    case kernels::Act::kSiLU: return static_cast<float>(x / (1.0 + std::exp(-static_cast<double>(x))));
    case kernels::Act::kHardSwish:
      return static_cast<float>(x * std::min(1.0, std::max(0.0, x / 6.0 + 0.5)));
    case kernels::Act::kHardSigmoid:
      return static_cast<float>(std::min(1.0, std::max(0.0, static_cast<double>(e.alpha) * x + e.beta)));
  }
  return x;
}

void ref_activation_inplace(const kernels::Epilogue& e, float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = ref_activation(e, x[i]);
}

void ref_conv2d(const kernels::ConvShape& s, const float* in, const float* w, const float* bias, float* out) {
  const int64_t OH = s.out_h(), OW = s.out_w(), cg = s.c / s.groups, fg = s.f / s.groups;
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t f = 0; f < s.f; ++f) {
      const int64_t c0 = (f / fg) * cg;  // first input channel of f's group
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
                acc += static_cast<double>(in[((b * s.c + c0 + c) * s.h + iy) * s.w + ix]) *
                       w[((f * cg + c) * s.kh + ky) * s.kw + kx];
              }
            }
          out[((b * s.f + f) * OH + oy) * OW + ox] = static_cast<float>(acc);
        }
    }
}

void ref_gemm(int64_t m, int64_t n, int64_t k, const float* a, bool trans_a, const float* b, bool trans_b,
              float alpha, float* out) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(trans_a ? a[p * m + i] : a[i * k + p]) * (trans_b ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = static_cast<float>(alpha * acc);
    }
}

void ref_batchnorm(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale, const float* bias,
                   const float* mean, const float* var, float epsilon, float* out) {
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(var[ch]) + epsilon);
      const int64_t base = (b * c + ch) * inner;
      for (int64_t i = 0; i < inner; ++i)
        out[base + i] = static_cast<float>((x[base + i] - static_cast<double>(mean[ch])) * inv * scale[ch] + bias[ch]);
    }
}

namespace {
int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1, bool ceil_mode) {
  const int64_t span = in + p0 + p1 - (d * (k - 1) + 1);
  if (span < 0) return 0;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // The last window must start inside the input or its leading padding.
  if (ceil_mode && (o - 1) * s >= in + p0) --o;
  return o;
}

template <bool kMax>
void pool2d(const PoolShape& s, const float* in, float* out) {
  const int64_t OH = s.out_h(), OW = s.out_w();
  for (int64_t p = 0; p < s.n * s.c; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double acc = kMax ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t cells = 0, padded_cells = 0;
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dil_h;
            const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dil_w;
            if (iy < s.h + s.pad_bottom && ix < s.w + s.pad_right) ++padded_cells;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            const double v = in[(p * s.h + iy) * s.w + ix];
            acc = kMax ? std::max(acc, v) : acc + v;
            ++cells;
          }
        if (!kMax) {
          const int64_t div = s.count_include_pad ? padded_cells : cells;
          acc = div > 0 ? acc / div : 0.0;
        }
        out[(p * OH + oy) * OW + ox] = static_cast<float>(acc);
      }
}
}  // namespace

int64_t PoolShape::out_h() const { return pool_out(h, kh, stride_h, dil_h, pad_top, pad_bottom, ceil_mode); }
int64_t PoolShape::out_w() const { return pool_out(w, kw, stride_w, dil_w, pad_left, pad_right, ceil_mode); }

void ref_max_pool2d(const PoolShape& s, const float* in, float* out) { pool2d<true>(s, in, out); }
void ref_avg_pool2d(const PoolShape& s, const float* in, float* out) { pool2d<false>(s, in, out); }

void ref_global_avg_pool(int64_t planes, int64_t size, const float* in, float* out) {
  for (int64_t p = 0; p < planes; ++p) {
    double acc = 0.0;
    for (int64_t i = 0; i < size; ++i) acc += in[p * size + i];
    out[p] = static_cast<float>(size > 0 ? acc / size : 0.0);
  }
}

void ref_global_max_pool(int64_t planes, int64_t size, const float* in, float* out) {
  for (int64_t p = 0; p < planes; ++p) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < size; ++i) m = std::max(m, in[p * size + i]);
    out[p] = m;
  }
}

void ref_softmax(int64_t outer, int64_t len, int64_t inner, const float* in, float* out) {
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t q = 0; q < inner; ++q) {
      auto at = [&](int64_t k) { return (p * len + k) * inner + q; };
      double m = -std::numeric_limits<double>::infinity(), sum = 0.0;
      for (int64_t k = 0; k < len; ++k) m = std::max<double>(m, in[at(k)]);
      for (int64_t k = 0; k < len; ++k) sum += std::exp(in[at(k)] - m);
      for (int64_t k = 0; k < len; ++k) out[at(k)] = static_cast<float>(std::exp(in[at(k)] - m) / sum);
    }
}

void ref_resize(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& out_shape,
                const std::vector<double>& scales, const std::string& mode, const std::string& coord,
                const std::string& nearest, const float* in, float* out) {
  const size_t rank = in_shape.size();
  if (out_shape.size() != rank || scales.size() != rank) throw Error("Resize", "shapes and scales differ in rank");
  if (mode != "nearest" && mode != "linear") throw Error("Resize", "mode '" + mode + "' is not supported (nearest, linear)");
  if (coord != "asymmetric" && coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" &&
      coord != "tf_half_pixel_for_nearest")
    throw Error("Resize", "coordinate_transformation_mode '" + coord + "' is not supported");
  if (mode == "nearest" && nearest != "floor" && nearest != "ceil" && nearest != "round_prefer_floor" &&
      nearest != "round_prefer_ceil")
    throw Error("Resize", "nearest_mode '" + nearest + "' is not supported");

  // Source coordinate of output index o along axis d (ONNX coordinate_transformation_mode).
  auto src = [&](int64_t o, size_t d) -> double {
    const double s = scales[d];
    const int64_t in = in_shape[d], on = out_shape[d];
    if (coord == "asymmetric") return o / s;
    if (coord == "align_corners") return on > 1 ? o * static_cast<double>(in - 1) / (on - 1) : 0.0;
    if (coord == "pytorch_half_pixel") return on > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (coord == "tf_half_pixel_for_nearest") return (o + 0.5) / s;
    return (o + 0.5) / s - 0.5;  // half_pixel
  };

  std::vector<int64_t> in_strides(rank, 1);
  for (size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * in_shape[d];
  int64_t total = 1;
  for (int64_t v : out_shape) total *= v;

  std::vector<int64_t> oi(rank, 0), lo(rank), hi(rank);
  std::vector<double> frac(rank);
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i;
    for (size_t d = rank; d-- > 0;) {
      oi[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    if (mode == "nearest") {
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) {
        const double f = src(oi[d], d);
        double r;
        if (nearest == "floor") r = std::floor(f);
        else if (nearest == "ceil") r = std::ceil(f);
        else if (nearest == "round_prefer_ceil") r = std::floor(f + 0.5);
        else r = std::ceil(f - 0.5);  // round_prefer_floor: a tie goes down
        off += std::clamp<int64_t>(static_cast<int64_t>(r), 0, in_shape[d] - 1) * in_strides[d];
      }
      out[i] = in[off];
      continue;
    }
    // Linear: clamping the coordinate equals ONNX's edge padding of the input.
    for (size_t d = 0; d < rank; ++d) {
      const double f = std::clamp(src(oi[d], d), 0.0, static_cast<double>(in_shape[d] - 1));
      lo[d] = static_cast<int64_t>(std::floor(f));
      hi[d] = std::min(lo[d] + 1, in_shape[d] - 1);
      frac[d] = f - lo[d];
    }
    double acc = 0.0;
    for (uint64_t corner = 0; corner < (uint64_t{1} << rank); ++corner) {
      double weight = 1.0;
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) {
        const bool up = (corner >> d) & 1;
        weight *= up ? frac[d] : 1.0 - frac[d];
        off += (up ? hi[d] : lo[d]) * in_strides[d];
      }
      if (weight != 0.0) acc += weight * in[off];
    }
    out[i] = static_cast<float>(acc);
  }
}

}  // namespace hilsim::kernels
