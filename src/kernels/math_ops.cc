#include "hilsim/kernels/math_ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

constexpr int64_t kGrain = 16384;

size_t chunks_of(int64_t n) { return static_cast<size_t>((n + kGrain - 1) / kGrain); }

// Rational minimax approximations (the ones Eigen and XLA use): branch-free, so the loops vectorise,
// where std::erf / std::tanh are scalar library calls ~10x slower. Max abs error ~1e-7.
// c[0] * y^(N-1) + ... + c[N-1] by Horner's rule (unrolled by the compiler: N is a constant).
template <size_t N>
inline float horner(float y, const float (&c)[N]) {
  float p = c[0];
  for (size_t i = 1; i < N; ++i) p = p * y + c[i];
  return p;
}

inline float fast_erf(float v) {
  static constexpr float kP[] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                                 -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                                 -1.60960333262415e-02f};
  static constexpr float kQ[] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                                 -7.37332916720468e-03f, -1.42647390514189e-02f};
  const float x = std::min(4.0f, std::max(-4.0f, v));
  const float x2 = x * x;
  return horner(x2, kP) * x / horner(x2, kQ);
}

inline float fast_tanh(float v) {
  static constexpr float kP[] = {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f,
                                 5.12229709037114e-08f,  1.48572235717979e-05f, 6.37261928875436e-04f,
                                 4.89352455891786e-03f};
  static constexpr float kQ[] = {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f,
                                 4.89352518554385e-03f};
  const float x = std::min(7.90531110763549805f, std::max(-7.90531110763549805f, v));
  const float x2 = x * x;
  // Tiny inputs: tanh(x) = x to float precision, and the ratio would lose the last bits.
  return std::fabs(v) < 0.0004f ? v : horner(x2, kP) * x / horner(x2, kQ);
}

// exp as Cephes computes it (2^n times a degree-6 polynomial on the reduced argument), branch-free so
// it vectorises (clamping the argument first kept GCC from vectorising the loop, so out-of-range
// arguments are overridden by the selects at the end instead); max relative error ~1e-7. Overflow
// gives inf and NaN stays NaN, as std::exp; results below 2.4e-38 (v < -86.6) flush to zero, where
// std::exp returns denormals.
inline float fast_exp(float v) {
  const float k = v * 1.44269504088896341f + 0.5f;
  const float kt = static_cast<float>(static_cast<int32_t>(k));
  const float fx = kt > k ? kt - 1.0f : kt;  // floor(k)
  float r = v - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // 2 * 2^(n-1): n reaches 128 just below overflow, one past the largest float exponent.
  const float e = (y + y) * std::bit_cast<float>((static_cast<int32_t>(fx) + 126) << 23);
  const float big = v > 88.7228391f ? std::numeric_limits<float>::infinity() : e;
  const float small = v < -86.6f ? 0.0f : big;
  return v != v ? v : small;
}

// The hot spans are compiled for AVX-512 and AVX2 too and picked at load time: the rational forms
// above are 8-16 lanes wide there instead of SSE's 4.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HILSIM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HILSIM_CLONES
#endif

HILSIM_CLONES void unary_span(UnaryOp op, const float* x, float* o, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::kErf:
      for (int64_t i = 0; i < n; ++i) o[i] = fast_erf(x[i]);
      break;
    case UnaryOp::kTanh:
      for (int64_t i = 0; i < n; ++i) o[i] = fast_tanh(x[i]);
      break;
    case UnaryOp::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) o[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
      break;
    case UnaryOp::kExp:
      for (int64_t i = 0; i < n; ++i) o[i] = fast_exp(x[i]);
      break;
    case UnaryOp::kSqrt:
      for (int64_t i = 0; i < n; ++i) o[i] = std::sqrt(x[i]);
      break;
    case UnaryOp::kNeg:
      for (int64_t i = 0; i < n; ++i) o[i] = -x[i];
      break;
    case UnaryOp::kAbs:
      for (int64_t i = 0; i < n; ++i) o[i] = std::fabs(x[i]);
      break;
    case UnaryOp::kGelu:
      for (int64_t i = 0; i < n; ++i) o[i] = x[i] * 0.5f * (1.0f + fast_erf(x[i] * 0.70710678118654752f));
      break;
    case UnaryOp::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        o[i] = v * 0.5f * (1.0f + fast_tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
      }
      break;
    case UnaryOp::kSquare:
      for (int64_t i = 0; i < n; ++i) o[i] = x[i] * x[i];
      break;
    case UnaryOp::kPow:
      for (int64_t i = 0; i < n; ++i) o[i] = std::pow(x[i], alpha);
      break;
  }
}

// o = exp(x - shift); returns the sum of o (16 partial sums: vectorisable without reassociation).
HILSIM_CLONES float exp_shifted_span(const float* x, float shift, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = fast_exp(x[i] - shift);
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += o[i + j];
  float sum = 0.0f;
  for (; i < n; ++i) sum += o[i];
  for (float a : acc) sum += a;
  return sum;
}

// The inner loops of softmax and layer_norm, cloned like the spans above: as plain loops in those
// functions they ran 4 lanes wide (SSE) and the strided softmax's exp scalar.
HILSIM_CLONES void max_into(float* m, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) m[i] = m[i] > x[i] ? m[i] : x[i];
}

HILSIM_CLONES void exp_sub_accumulate(const float* x, const float* shift, float* o, float* sum, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    o[i] = fast_exp(x[i] - shift[i]);
    sum[i] += o[i];
  }
}

HILSIM_CLONES void mul_into(float* o, const float* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] *= s[i];
}

HILSIM_CLONES void scale_span(float* o, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] *= s;
}

// Sum of (x - mean)^2 once the mean is known: 16 partial sums, as sum_floats.
HILSIM_CLONES float sq_dev_span(const float* x, float mean, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) {
      const float d = x[i + j] - mean;
      acc[j] += d * d;
    }
  float r = 0.0f;
  for (; i < n; ++i) r += (x[i] - mean) * (x[i] - mean);
  for (float a : acc) r += a;
  return r;
}

HILSIM_CLONES void normalize_span(const float* x, float mean, float inv, const float* scale, const float* bias, float* o,
                                  int64_t n) {
  if (bias) {
    for (int64_t k = 0; k < n; ++k) o[k] = (x[k] - mean) * inv * scale[k] + bias[k];
  } else {
    for (int64_t k = 0; k < n; ++k) o[k] = (x[k] - mean) * inv * scale[k];
  }
}

HILSIM_CLONES void affine_span(const float* x, float s, float b, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = x[i] * s + b;
}

// Whole planes [p0, p1) of `inner` elements, channel = plane % c, in one call: late layers have planes
// of 9-49 elements, where a call per plane cost more than its arithmetic.
HILSIM_CLONES void affine_planes(const float* x, const float* scale, const float* shift, int64_t c, int64_t p0,
                                 int64_t p1, int64_t inner, float* o) {
  for (int64_t p = p0; p < p1; ++p) {
    const float s = scale[p % c], b = shift[p % c];
    const float* xi = x + p * inner;
    float* oi = o + p * inner;
    for (int64_t i = 0; i < inner; ++i) oi[i] = xi[i] * s + b;
  }
}

}  // namespace

HILSIM_CLONES float sum_floats(const float* x, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  float r = 0.0f;
  for (; i < n; ++i) r += x[i];
  for (float a : acc) r += a;
  return r;
}

void channel_affine(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale, const float* shift,
                    float* out, ThreadPool& pool, const Epilogue& ep) {
  if (n < 0 || c < 0 || inner < 0) throw Error("channel_affine: field 'n/c/inner'", "must be >= 0");
  const Isa isa = active_isa();
  if (inner < kGrain) {
    // Small planes: chunks of whole planes, contiguous, so the activation runs once over a chunk.
    // (A plane per item cost ~20 ns of calls each: a 2208-channel 3x3 batch norm took 2 ns an element.)
    pool.parallel_for(static_cast<size_t>(n * c), [&](size_t b0, size_t b1) {
      const int64_t p0 = static_cast<int64_t>(b0), p1 = static_cast<int64_t>(b1);
      affine_planes(x, scale, shift, c, p0, p1, inner, out);
      if (ep.act != Act::kNone) apply_act_inplace(isa, ep, out + p0 * inner, (p1 - p0) * inner);
    }, static_cast<size_t>(std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1))));
    return;
  }
  // Planes of `inner`; a big plane is split so a batch-1 tensor with few channels still splits.
  const int64_t per = std::max<int64_t>(1, inner / kGrain), piece = (inner + per - 1) / std::max<int64_t>(per, 1);
  const size_t items = static_cast<size_t>(n * c * per);
  pool.parallel_for(items, [&](size_t b0, size_t b1) {
    for (size_t it = b0; it < b1; ++it) {
      const int64_t plane = static_cast<int64_t>(it) / per, part = static_cast<int64_t>(it) % per;
      const int64_t ch = plane % c, l0 = part * piece, l1 = std::min(inner, l0 + piece);
      const float s = scale[ch], b = shift[ch];
      const float* xi = x + plane * inner + l0;
      float* o = out + plane * inner + l0;
      affine_span(xi, s, b, o, l1 - l0);
      if (ep.act != Act::kNone) apply_act_inplace(isa, ep, o, l1 - l0);
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / std::max<int64_t>(piece, 1))));
}

void unary_op(UnaryOp op, const float* x, float* out, int64_t n, ThreadPool& pool, float alpha) {
  pool.parallel_for(chunks_of(n), [&](size_t b0, size_t b1) {
    const int64_t s = static_cast<int64_t>(b0) * kGrain, e = std::min<int64_t>(n, static_cast<int64_t>(b1) * kGrain);
    unary_span(op, x + s, out + s, e - s, alpha);
  });
}

namespace {

template <ReduceOp kOp>
float reduce_run(const float* x, int64_t n) {
  if constexpr (kOp != ReduceOp::kMax) return sum_floats(x, n);
  // 16 independent partial results: vectorisable without reassociation flags.
  constexpr float init = kOp == ReduceOp::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  float acc[16];
  std::fill(acc, acc + 16, init);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] = kOp == ReduceOp::kMax ? std::max(acc[j], x[i + j]) : acc[j] + x[i + j];
  float r = init;
  for (; i < n; ++i) r = kOp == ReduceOp::kMax ? std::max(r, x[i]) : r + x[i];
  for (float a : acc) r = kOp == ReduceOp::kMax ? std::max(r, a) : r + a;
  return r;
}

template <ReduceOp kOp>
void reduce_impl(int64_t outer, int64_t red, int64_t inner, const float* x, float* out, ThreadPool& pool) {
  const float inv = kOp == ReduceOp::kMean ? 1.0f / static_cast<float>(red) : 1.0f;
  if (inner == 1) {
    pool.parallel_for(static_cast<size_t>(outer), [&](size_t b0, size_t b1) {
      for (size_t p = b0; p < b1; ++p) out[p] = reduce_run<kOp>(x + static_cast<int64_t>(p) * red, red) * inv;
    }, static_cast<size_t>(std::max<int64_t>(1, kGrain / std::max<int64_t>(red, 1))));
    return;
  }
  // Accumulate whole rows of `inner` into the output row: unit stride, vectorised.
  pool.parallel_for(static_cast<size_t>(outer), [&](size_t b0, size_t b1) {
    for (size_t p = b0; p < b1; ++p) {
      const float* xp = x + static_cast<int64_t>(p) * red * inner;
      float* o = out + static_cast<int64_t>(p) * inner;
      std::copy(xp, xp + inner, o);
      for (int64_t k = 1; k < red; ++k) {
        const float* xr = xp + k * inner;
        for (int64_t i = 0; i < inner; ++i) o[i] = kOp == ReduceOp::kMax ? std::max(o[i], xr[i]) : o[i] + xr[i];
      }
      if (kOp == ReduceOp::kMean)
        for (int64_t i = 0; i < inner; ++i) o[i] *= inv;
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / std::max<int64_t>(red * inner, 1))));
}

}  // namespace

void reduce(ReduceOp op, int64_t outer, int64_t red, int64_t inner, const float* x, float* out, ThreadPool& pool) {
  if (outer < 1 || red < 1 || inner < 1) throw Error("reduce: field 'outer/red/inner'", "must be >= 1");
  if (op == ReduceOp::kMean) return reduce_impl<ReduceOp::kMean>(outer, red, inner, x, out, pool);
  if (op == ReduceOp::kSum) return reduce_impl<ReduceOp::kSum>(outer, red, inner, x, out, pool);
  reduce_impl<ReduceOp::kMax>(outer, red, inner, x, out, pool);
}

void reduce_gather(ReduceOp op, const std::vector<int64_t>& bases, const std::vector<int64_t>& offsets, const float* x,
                   float* out, ThreadPool& pool) {
  if (offsets.empty()) throw Error("reduce_gather: field 'offsets'", "nothing to reduce");
  const int64_t red = static_cast<int64_t>(offsets.size());
  const float inv = op == ReduceOp::kMean ? 1.0f / static_cast<float>(red) : 1.0f;
  pool.parallel_for(bases.size(), [&](size_t b0, size_t b1) {
    for (size_t p = b0; p < b1; ++p) {
      const float* xp = x + bases[p];
      float r = op == ReduceOp::kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
      if (op == ReduceOp::kMax) {
        for (int64_t k = 0; k < red; ++k) r = std::max(r, xp[offsets[k]]);
      } else {
        for (int64_t k = 0; k < red; ++k) r += xp[offsets[k]];
      }
      out[p] = r * inv;
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / red)));
}

void softmax(int64_t outer, int64_t axis, int64_t inner, const float* x, float* out, ThreadPool& pool) {
  if (outer < 1 || axis < 1 || inner < 1) throw Error("softmax: field 'outer/axis/inner'", "must be >= 1");
  if (inner == 1) {
    pool.parallel_for(static_cast<size_t>(outer), [&](size_t b0, size_t b1) {
      for (size_t p = b0; p < b1; ++p) {
        const float* xr = x + static_cast<int64_t>(p) * axis;
        float* o = out + static_cast<int64_t>(p) * axis;
        const float mx = reduce_run<ReduceOp::kMax>(xr, axis);
        scale_span(o, 1.0f / exp_shifted_span(xr, mx, o, axis), axis);
      }
    }, static_cast<size_t>(std::max<int64_t>(1, kGrain / axis)));
    return;
  }
  // Softmax down a strided axis (YOLOv8's DFL: 16 bins x 4 sides x every anchor, outer 1): work items are
  // column chunks of `inner` in every outer slice, and each pass runs along a chunk's rows, unit-stride,
  // with the running max and sum in stack buffers. One item per outer slice with the sum taken down the
  // columns ran YOLOv8s' at 3 ns an element on one thread.
  constexpr int64_t kCols = 256;
  const int64_t col_chunks = (inner + kCols - 1) / kCols;
  pool.parallel_for(static_cast<size_t>(outer * col_chunks), [&](size_t b0, size_t b1) {
    alignas(64) float mx[kCols], sum[kCols];
    for (size_t item = b0; item < b1; ++item) {
      const int64_t p = static_cast<int64_t>(item) / col_chunks, c0 = static_cast<int64_t>(item) % col_chunks * kCols;
      const int64_t w = std::min(kCols, inner - c0);
      const float* xp = x + p * axis * inner + c0;
      float* op = out + p * axis * inner + c0;
      std::copy(xp, xp + w, mx);
      for (int64_t k = 1; k < axis; ++k) max_into(mx, xp + k * inner, w);
      std::fill(sum, sum + w, 0.0f);
      for (int64_t k = 0; k < axis; ++k) exp_sub_accumulate(xp + k * inner, mx, op + k * inner, sum, w);
      for (int64_t i = 0; i < w; ++i) sum[i] = 1.0f / sum[i];
      for (int64_t k = 0; k < axis; ++k) mul_into(op + k * inner, sum, w);
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / (axis * kCols))));
}

void layer_norm(int64_t rows, int64_t width, const float* x, const float* scale, const float* bias, float epsilon,
                float* out, ThreadPool& pool) {
  if (rows < 1 || width < 1) throw Error("layer_norm: field 'rows/width'", "must be >= 1");
  pool.parallel_for(static_cast<size_t>(rows), [&](size_t b0, size_t b1) {
    for (size_t r = b0; r < b1; ++r) {
      const float* xr = x + static_cast<int64_t>(r) * width;
      float* o = out + static_cast<int64_t>(r) * width;
      const float mean = sum_floats(xr, width) / static_cast<float>(width);
      // Two-pass variance: exported nets feed activations with large means, where E[x^2]-E[x]^2 cancels.
      const float var = sq_dev_span(xr, mean, width);
      const float inv = 1.0f / std::sqrt(var / static_cast<float>(width) + epsilon);
      normalize_span(xr, mean, inv, scale, bias, o, width);
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / width)));
}

LinearTaps linear_taps(int64_t in, int64_t out, double scale, const std::string& coord) {
  if (in < 1 || out < 1) throw Error("resize_linear: field 'in/out'", "must be >= 1");
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" && coord != "asymmetric")
    throw Error("resize_linear: field 'coordinate_transformation_mode'", "'" + coord + "' is not supported");
  LinearTaps t;
  t.lo.resize(static_cast<size_t>(out));
  t.hi.resize(static_cast<size_t>(out));
  t.frac.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double f;
    if (coord == "asymmetric") f = o / scale;
    else if (coord == "align_corners") f = out > 1 ? o * static_cast<double>(in - 1) / (out - 1) : 0.0;
    else if (coord == "pytorch_half_pixel") f = out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
    else f = (o + 0.5) / scale - 0.5;
    // Clamping the coordinate is ONNX's edge padding of the input.
    f = std::clamp(f, 0.0, static_cast<double>(in - 1));
    t.lo[o] = static_cast<int64_t>(std::floor(f));
    t.hi[o] = std::min(t.lo[o] + 1, in - 1);
    t.frac[o] = static_cast<float>(f - t.lo[o]);
  }
  return t;
}

void resize_linear(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const LinearTaps& ty,
                   const LinearTaps& tx, const float* x, float* out, ThreadPool& pool) {
  if (static_cast<int64_t>(ty.lo.size()) != out_h || static_cast<int64_t>(tx.lo.size()) != out_w)
    throw Error("resize_linear: field 'taps'", "do not match the output size");
  const int64_t items = planes * out_h;
  pool.parallel_for(static_cast<size_t>(items), [&](size_t b0, size_t b1) {
    for (size_t it = b0; it < b1; ++it) {
      const int64_t p = static_cast<int64_t>(it) / out_h, oy = static_cast<int64_t>(it) % out_h;
      const float* r0 = x + (p * h + ty.lo[oy]) * w;
      const float* r1 = x + (p * h + ty.hi[oy]) * w;
      const float fy = ty.frac[oy];
      float* o = out + it * static_cast<size_t>(out_w);
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t a = tx.lo[ox], b = tx.hi[ox];
        const float fx = tx.frac[ox];
        const float top = r0[a] + (r0[b] - r0[a]) * fx;
        const float bot = r1[a] + (r1[b] - r1[a]) * fx;
        o[ox] = top + (bot - top) * fy;
      }
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / out_w)));
}

}  // namespace hilsim::kernels
