#include "hilsim/codegen/kernel_header.h"

namespace hilsim::codegen {

namespace {

// The conv engine is the runtime's idea (src/kernels/sparse_conv.h) in template form: every conv —
// dense, grouped, depthwise, block-punched, pattern, CSR — is rows of FB filters, each row a list of
// kept input columns with a dense FB-wide value panel. The input is zero-padded once into stride
// phases, so a column is one constant offset and reads a contiguous run of output pixels; an output
// tile is FB x (VL * NV) accumulators fed by one vector load per kept column. What the runtime decides
// at run time (row height, tile width, loop order, activation) is a template argument here.
const char* const kText = R"HSK(// Kernels of an emitted hilsim library: self-contained C++17 (GCC or Clang vector extensions), no
// dependencies beyond the C and C++ standard headers. Generated; do not edit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// Every function here is internal to the library: the note that a vector argument's ABI depends on
// the ISA flags (x86-64 without AVX) concerns no caller.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace hsk {

// One vector: 16 lanes where AVX-512 is enabled (32 registers hold the widest tiles), 8 elsewhere (AVX2,
// NEON as two q registers).
#if defined(__AVX512F__)
constexpr int VL = 16;
#else
constexpr int VL = 8;
#endif
typedef float v8 __attribute__((vector_size(VL * 4)));

static inline v8 ld(const float* p) { v8 v; std::memcpy(&v, p, sizeof v); return v; }
static inline void st(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }
static inline v8 splat(float x) { return v8{} + x; }
typedef int32_t vi __attribute__((vector_size(VL * 4)));

// exp on a vector (Cephes' expf: range reduction by ln 2 in two parts, degree-6 polynomial, the
// exponent built in the float's bits); relative error about 1e-7, inputs clamped to +-88.
static inline v8 vexp(v8 x) {
  const v8 hi = splat(88.0f), lo = splat(-88.0f);
  x = x < hi ? x : hi;
  x = x > lo ? x : lo;
  const v8 fx = x * 1.44269504088896341f;
  const vi n = __builtin_convertvector(fx + (fx >= splat(0.0f) ? splat(0.5f) : splat(-0.5f)), vi);
  const v8 nf = __builtin_convertvector(n, v8);
  const v8 r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  v8 y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const vi e = (n + 127) << 23;
  v8 scale;
  std::memcpy(&scale, &e, sizeof scale);
  return y * scale;
}

enum { kNone = 0, kRelu, kClip, kSigmoid, kSiLU, kHardSwish, kHardSigmoid };
struct ActParams { float a, b; };  // kClip: min, max; kHardSigmoid: alpha, beta

template <int ACT>
static inline float act1(float x, const ActParams& p) {
  if constexpr (ACT == kRelu) return x > 0.0f ? x : 0.0f;
  else if constexpr (ACT == kClip) return x < p.a ? p.a : (x > p.b ? p.b : x);
  else if constexpr (ACT == kSigmoid) return 1.0f / (1.0f + std::exp(-x));
  else if constexpr (ACT == kSiLU) return x / (1.0f + std::exp(-x));
  else if constexpr (ACT == kHardSwish) {
    float t = x + 3.0f;
    t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
    return x * t / 6.0f;
  } else if constexpr (ACT == kHardSigmoid) {
    float t = p.a * x + p.b;
    return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  } else return x;
}

// Writes n (<= VL) lanes of v with the activation applied.
template <int ACT>
static inline v8 act_vec(v8 v, const ActParams& p) {
  const v8 z = splat(0.0f);
  if constexpr (ACT == kRelu) return v > z ? v : z;
  else if constexpr (ACT == kClip) {
    const v8 lo = splat(p.a), hi = splat(p.b);
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
  } else if constexpr (ACT == kSigmoid) return 1.0f / (1.0f + vexp(-v));
  else if constexpr (ACT == kSiLU) return v / (1.0f + vexp(-v));
  else if constexpr (ACT == kHardSwish) {
    v8 t = v + 3.0f;
    t = t < z ? z : t;
    t = t > splat(6.0f) ? splat(6.0f) : t;
    return v * t / 6.0f;
  } else if constexpr (ACT == kHardSigmoid) {
    v8 t = v * p.a + p.b;
    t = t < z ? z : t;
    return t > splat(1.0f) ? splat(1.0f) : t;
  } else return v;
}

template <int ACT>
static inline void store_act(float* y, v8 v, int n, const ActParams& p) {
  v = act_vec<ACT>(v, p);
  if (n >= VL) { st(y, v); return; }
  for (int i = 0; i < n; ++i) y[i] = v[i];
}

// One output tile: FB filters x VL*NV pixels. acc[f][t] = bias[f] + sum_j w[j * FB + f] * x[off[j] + t],
// activated and stored to y[f * ys + t] for f < nf, or for a ragged tile (RAW) into raw[f * VL * NV + t]
// for the caller to scatter. Every lane is loaded: the buffers carry slack past their end.
template <int FB, int NV, int ACT, bool RAW>
static inline void conv_tile(const float* __restrict x, const int32_t* __restrict off, const float* __restrict w,
                             int ncols, const float* __restrict bias, float* __restrict y, int64_t ys, int nf,
                             const ActParams& p) {
  v8 acc[FB][NV];
#pragma GCC unroll 16
  for (int f = 0; f < FB; ++f)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[f][v] = splat(bias[f]);
  for (int j = 0; j < ncols; ++j) {
    const float* xp = x + off[j];
    v8 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) xv[v] = ld(xp + VL * v);
    const float* wj = w + static_cast<int64_t>(j) * FB;
#pragma GCC unroll 16
    for (int f = 0; f < FB; ++f) {
      const v8 b = splat(wj[f]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[f][v] += b * xv[v];
    }
  }
#pragma GCC unroll 16
  for (int f = 0; f < FB; ++f) {
    if (f >= nf) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if constexpr (RAW) st(y + f * VL * NV + VL * v, act_vec<ACT>(acc[f][v], p));
      else store_act<ACT>(y + f * ys + VL * v, acc[f][v], VL, p);
    }
  }
}

// rows: per row {first filter, filters, first column, columns}, in the order they run (longest first).
// Row r's columns are off[c0 .. c0 + n), its values w[(c0 + j) * FB + f], its bias bias[r * FB + f].
// Output pixels run over the phased rows, p = oy * wq + ox (wq >= ow: the columns ox >= ow are computed
// and dropped, which keeps every tile full); x is the phased input, or the input itself for a 1x1
// stride-1 conv (oh = 1, ow = wq = h * w). y: [filters][oh][ow].
// BT: tiles per pixel block; all rows run over one block before the next (the block's input stays in
// cache across the rows); BT = 0 runs each row over the whole image (its weights stay in L1).
template <int FB, int NV, int ACT, int BT>
static void conv_rows(const float* __restrict x, float* __restrict y, const int32_t* rows, int nrows,
                      const int32_t* off, const float* w, const float* bias, int oh, int ow, int wq,
                      const ActParams& p) {
  constexpr int T = VL * NV;
  const int64_t plane = static_cast<int64_t>(oh) * ow, np = static_cast<int64_t>(oh) * wq;
  // (oy, ox) of pixel p0 are carried along by the loops: no division per tile.
  auto tile = [&](int r, int64_t p0, int oy, int ox) {
    const int32_t* R = rows + 4 * r;
    const float* xt = x + p0;
    const float* wp = w + static_cast<int64_t>(R[2]) * FB;
    float* yf = y + R[0] * plane;
    if (ox + T <= ow) {
      conv_tile<FB, NV, ACT, false>(xt, off + R[2], wp, R[3], bias + r * FB, yf + static_cast<int64_t>(oy) * ow + ox,
                                    plane, R[1], p);
      return;
    }
    float raw[FB * T];
    conv_tile<FB, NV, ACT, true>(xt, off + R[2], wp, R[3], bias + r * FB, raw, 0, R[1], p);
    // Scatter the tile's runs of valid pixels, one phased row at a time.
    int qy = oy, qx = ox;
    for (int t = 0; t < T && qy < oh;) {
      const int run = T - t < wq - qx ? T - t : wq - qx;
      const int valid = qx < ow ? (run < ow - qx ? run : ow - qx) : 0;
      for (int f = 0; f < R[1]; ++f) {
        float* yp = yf + f * plane + static_cast<int64_t>(qy) * ow + qx;
        const float* rp = raw + f * T + t;
        for (int i = 0; i < valid; ++i) yp[i] = rp[i];
      }
      t += run, qx = 0, ++qy;
    }
  };
  auto advance = [&](int* oy, int* ox) {
    *ox += T;
    while (*ox >= wq) *ox -= wq, ++*oy;
  };
  if constexpr (BT == 0) {
    for (int r = 0; r < nrows; ++r) {
      int oy = 0, ox = 0;
      for (int64_t p0 = 0; p0 < np; p0 += T, advance(&oy, &ox)) tile(r, p0, oy, ox);
    }
  } else {
    int by = 0, bx = 0;
    for (int64_t b0 = 0; b0 < np; b0 += static_cast<int64_t>(BT) * T) {
      const int64_t b1 = b0 + static_cast<int64_t>(BT) * T < np ? b0 + static_cast<int64_t>(BT) * T : np;
      int ny = by, nx = bx;
      for (int r = 0; r < nrows; ++r) {
        int oy = by, ox = bx;
        for (int64_t p0 = b0; p0 < b1; p0 += T, advance(&oy, &ox)) tile(r, p0, oy, ox);
        ny = oy, nx = ox;
      }
      by = ny, bx = nx;
    }
  }
}

// d[c][py][px][i][j] = padded x[c][i * sh + py][j * sw + px] (zero outside x): stride phases, so that
// a conv column reads a contiguous run of output pixels for any stride.
static void phase_pack(const float* __restrict x, float* __restrict d, int c, int h, int w, int sh, int sw,
                       int pt, int pl, int hq, int wq) {
  for (int ch = 0; ch < c; ++ch)
    for (int py = 0; py < sh; ++py)
      for (int px = 0; px < sw; ++px) {
        float* dp = d + ((static_cast<int64_t>(ch) * sh + py) * sw + px) * hq * wq;
        const float* xc = x + static_cast<int64_t>(ch) * h * w;
        for (int i = 0; i < hq; ++i) {
          const int yy = i * sh + py - pt;
          float* row = dp + static_cast<int64_t>(i) * wq;
          if (yy < 0 || yy >= h) { std::memset(row, 0, sizeof(float) * wq); continue; }
          const float* xr = xc + static_cast<int64_t>(yy) * w;
          if (sw == 1) {
            int j = 0;
            for (; j < wq && j - pl < 0; ++j) row[j] = 0.0f;
            const int n = (w + pl < wq ? w + pl : wq) - j;
            if (n > 0) { std::memcpy(row + j, xr + (j - pl), sizeof(float) * n); j += n; }
            for (; j < wq; ++j) row[j] = 0.0f;
          } else {
            // Zeros outside [j0, j1), a plain strided copy inside (which the compiler vectorises).
            const int j0 = pl - px > 0 ? (pl - px + sw - 1) / sw : 0;
            int j1 = (w - 1 + pl - px) / sw + 1;
            if (w - 1 + pl - px < 0) j1 = 0;
            if (j1 > wq) j1 = wq;
            int j = 0;
            for (; j < j0 && j < wq; ++j) row[j] = 0.0f;
            const float* xs = xr + (j * sw + px - pl);
            for (; j < j1; ++j, xs += sw) row[j] = *xs;
            for (; j < wq; ++j) row[j] = 0.0f;
          }
        }
      }
}

// Fully connected: y[m][n] = act(b[n] + sum_k x[m][k] * wt[n][k]).
template <int ACT>
static void dense_rows(const float* __restrict x, const float* __restrict wt, const float* __restrict b,
                       float* __restrict y, int m, int n, int k, const ActParams& p) {
  for (int i = 0; i < m; ++i) {
    const float* xi = x + static_cast<int64_t>(i) * k;
    for (int o = 0; o < n; ++o) {
      const float* wo = wt + static_cast<int64_t>(o) * k;
      v8 a0 = splat(0.0f), a1 = splat(0.0f);
      int j = 0;
      for (; j + 2 * VL <= k; j += 2 * VL) { a0 += ld(xi + j) * ld(wo + j); a1 += ld(xi + j + VL) * ld(wo + j + VL); }
      for (; j + VL <= k; j += VL) a0 += ld(xi + j) * ld(wo + j);
      a0 += a1;
      float s = 0.0f;
      for (int l = 0; l < VL; ++l) s += a0[l];
      for (; j < k; ++j) s += xi[j] * wo[j];
      y[static_cast<int64_t>(i) * n + o] = act1<ACT>(s + b[o], p);
    }
  }
}

}  // namespace hsk
)HSK";

}  // namespace

const std::string& kernel_header_text() {
  static const std::string text(kText);
  return text;
}

}  // namespace hilsim::codegen
