// Depthwise row kernels: 16 outputs per vector, the K x K taps broadcast once per call (in registers up
// to 5x5).
// Stride 2 reads the plane split into its even and odd columns (f32_dwconv_split_rows_avx512): window
// column 2o + kx is column o + kx / 2 of the even plane (kx even) or the odd one, one plain load a tap.
// Loading 32 consecutive inputs and keeping the even lanes with a permute took two loads a tap, and the
// loads, not the FMAs, bounded the 3x3 kernel (0.39-0.46x oneDNN at 28-56 wide outputs, Zen 4).
// Channel-lanes work items: 16 channels per vector, 16x16 in-register transposes in and out.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>

#include "hilsim/kernels/depthwise_conv.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

namespace {

// R output rows at once: they read (R - 1) * S + K input rows, each input vector is loaded once and fed
// to every row whose window holds it, and the R accumulators are independent FMA chains (one row alone
// waits on the FMA latency K * K times per vector).
template <int K, int S, int R>
void row_block(const DwRowArgs& a, const __m512* w, __m512 bias, const float* in, float* out) {
  constexpr int kInRows = (R - 1) * S + K;
  const bool act = a.ep->act != Act::kNone;
  for (size_t o = 0; o < a.ow_count; o += 16) {
    __m512 acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r] = bias;
#pragma GCC unroll 13
    for (int iy = 0; iy < kInRows; ++iy) {
      const float* src = in + iy * a.pw + o;
#pragma GCC unroll 7
      for (int kx = 0; kx < K; ++kx) {
        __m512 v;
        if constexpr (S == 1) {
          v = _mm512_loadu_ps(src + kx);
        } else {
          v = _mm512_loadu_ps(src + (kx & 1 ? a.odd_offset : 0) + kx / 2);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int ky = iy - r * S;
          if (ky >= 0 && ky < K) acc[r] = _mm512_fmadd_ps(w[ky * K + kx], v, acc[r]);
        }
      }
    }
    const __mmask16 m = x86::tail_mask(a.ow_count - o);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (act) acc[r] = x86::act_avx512(*a.ep, acc[r]);
      _mm512_mask_storeu_ps(out + r * a.out_step + o, m, acc[r]);
    }
  }
}

template <int K, int S>
void dw_row(const DwRowArgs& a) {
  __m512 w[K * K];
  for (int i = 0; i < K * K; ++i) w[i] = _mm512_set1_ps(a.w[i]);
  const __m512 bias = _mm512_set1_ps(a.bias);
  // Four rows keep 25 taps + 4 accumulators + a load within the 32 zmm registers for 5x5; 7x7's 49
  // taps stay on the stack and the FMAs take them as memory operands (one load per FMA, as the loads
  // ports allow).
  static_assert(kDwRowBlock == 4 && kDwRowLanes == 16, "the blocks below and the remainders after them");
  size_t r = 0;
  for (; r + 4 <= a.rows; r += 4) row_block<K, S, 4>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  const size_t left = a.rows - r;
  if (left == 3) row_block<K, S, 3>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 2) row_block<K, S, 2>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 1) row_block<K, S, 1>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
}

// r[i] lane j <- r[j] lane i: unpack pairs, then 2x2 blocks, then 128-bit lanes twice (64 shuffles).
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 2
  for (int i = 0; i < 16; i += 8) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(u[i + j], u[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(u[i + j], u[i + j + 4], 0xdd);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
}

// r[i] = the 16 floats at src + i * stride under mask m for i < rows, zero for the others; all 16 rows
// unmasked take plain loads.
inline void load_rows(__m512 (&r)[16], const float* src, size_t stride, size_t rows, __mmask16 m) {
  if (rows == 16 && m == 0xFFFF) {
#pragma GCC unroll 16
    for (size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * stride);
    return;
  }
  for (size_t i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * stride) : _mm512_setzero_ps();
}

// Window rows [ky0, ky1) and block-relative tile columns [ix0, ix1) that lie on the map (dw_tap_range).
struct Clip {
  int ky0, ky1, ix0, ix1;
};

// N output pixels of one row, all accumulators in registers: each input pixel is loaded once and fed to
// every output whose window holds it. kClip: a border block, which skips the taps on the zero border.
template <int K, int S, int N, bool kClip>
inline void lanes_block(const DwLanesArgs& a, const float* in, float* out, __m512 bias, bool act, Clip c) {
  __m512 acc[N];
#pragma GCC unroll 16
  for (int n = 0; n < N; ++n) acc[n] = bias;
  const int ky0 = kClip ? c.ky0 : 0, ky1 = kClip ? c.ky1 : K;
#pragma GCC unroll 7
  for (int ky = ky0; ky < ky1; ++ky) {
    __m512 w[K];
#pragma GCC unroll 7
    for (int kx = 0; kx < K; ++kx) w[kx] = _mm512_loadu_ps(a.w + (ky * K + kx) * 16);
    const float* row = in + ky * a.pw * 16;
#pragma GCC unroll 32
    for (int ix = 0; ix < (N - 1) * S + K; ++ix) {
      if (kClip && (ix < c.ix0 || ix >= c.ix1)) continue;
      const __m512 v = _mm512_loadu_ps(row + ix * 16);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) {
        const int kx = ix - n * S;
        if (kx >= 0 && kx < K) acc[n] = _mm512_fmadd_ps(w[kx], v, acc[n]);
      }
    }
  }
#pragma GCC unroll 16
  for (int n = 0; n < N; ++n) _mm512_storeu_ps(out + n * 16, act ? x86::act_avx512(*a.ep, acc[n]) : acc[n]);
}

// The block of N outputs from column ox of a row whose window rows on the map are `rows`.
template <int K, int S, int N>
inline void lanes_run(const DwLanesArgs& a, const float* in, float* out, __m512 bias, bool act, DwTapRange rows,
                      size_t ox) {
  const int64_t ix0 = static_cast<int64_t>(a.pad_left) - static_cast<int64_t>(ox) * S;
  const int64_t ix1 = ix0 + static_cast<int64_t>(a.w_in);
  in += ox * S * 16, out += ox * 16;
  if (rows.lo == 0 && rows.hi == K && ix0 <= 0 && ix1 >= (N - 1) * S + K)
    return lanes_block<K, S, N, false>(a, in, out, bias, act, {});
  const Clip c{rows.lo, rows.hi, static_cast<int>(std::clamp<int64_t>(ix0, 0, 64)),
               static_cast<int>(std::clamp<int64_t>(ix1, 0, 64))};
  lanes_block<K, S, N, true>(a, in, out, bias, act, c);
}

template <int K, int S>
void lanes(const DwLanesArgs& args) {
  // A local copy: through the caller's reference, every store to the output planes made the compiler
  // reload the struct's pointers (a quarter of the instructions).
  const DwLanesArgs a = args;
  // Eight pixels: 8 accumulators + K taps + a load stay within the 32 registers for 5x5.
  constexpr size_t kN = 8;
  const size_t hw = a.h * a.w_in, ohw = a.oh * a.ow;
  const bool full = a.channels == 16;
  // Transpose in, 16 pixels of the flattened plane at a time (a 7x7 plane is 4 transposes, not 7).
  {
    size_t x = 0;
    float* dst = a.tile + (a.pad_top * a.pw + a.pad_left) * 16;
    for (size_t p = 0; p < hw; p += 16) {
      const size_t n = std::min<size_t>(16, hw - p);
      const __mmask16 m = x86::tail_mask(n);
      __m512 r[16];
      load_rows(r, a.in + p, hw, a.channels, m);
      transpose16(r);
      for (size_t j = 0; j < n; ++j) {
        _mm512_storeu_ps(dst, r[j]);
        dst += 16;
        if (++x == a.w_in) x = 0, dst += (a.pw - a.w_in) * 16;
      }
    }
  }
  float* otile = a.tile + a.ph * a.pw * 16;
  const __m512 bias = _mm512_loadu_ps(a.bias);
  const bool act = a.ep->act != Act::kNone;
  for (size_t oy = 0; oy < a.oh; ++oy) {
    const float* in = a.tile + oy * S * a.pw * 16;
    float* out = otile + oy * a.ow * 16;
    const DwTapRange rows = dw_tap_range(static_cast<int64_t>(oy), S, K, static_cast<int64_t>(a.pad_top),
                                         static_cast<int64_t>(a.h));
    size_t ox = 0;
    for (; ox + kN <= a.ow; ox += kN) lanes_run<K, S, kN>(a, in, out, bias, act, rows, ox);
    switch (a.ow - ox) {
      case 7: lanes_run<K, S, 7>(a, in, out, bias, act, rows, ox); break;
      case 6: lanes_run<K, S, 6>(a, in, out, bias, act, rows, ox); break;
      case 5: lanes_run<K, S, 5>(a, in, out, bias, act, rows, ox); break;
      case 4: lanes_run<K, S, 4>(a, in, out, bias, act, rows, ox); break;
      case 3: lanes_run<K, S, 3>(a, in, out, bias, act, rows, ox); break;
      case 2: lanes_run<K, S, 2>(a, in, out, bias, act, rows, ox); break;
      case 1: lanes_run<K, S, 1>(a, in, out, bias, act, rows, ox); break;
      default: break;
    }
  }
  // Transpose out, 16 output pixels at a time; only the group's channels are stored.
  for (size_t q = 0; q < ohw; q += 16) {
    const size_t n = std::min<size_t>(16, ohw - q);
    const __mmask16 m = x86::tail_mask(n);
    __m512 r[16];
    load_rows(r, otile + q * 16, 16, n, 0xFFFF);
    transpose16(r);
    // Full chunks without masks: masked stores that split cache lines cost several times a plain one.
    if (full && n == 16) {
      // A walking pointer: 16 precomputed plane offsets did not fit the registers and went through xmm.
      float* o = a.out + q;
#pragma GCC unroll 16
      for (size_t c = 0; c < 16; ++c, o += ohw) _mm512_storeu_ps(o, r[c]);
      continue;
    }
    for (size_t c = 0; c < a.channels; ++c) _mm512_mask_storeu_ps(a.out + c * ohw + q, m, r[c]);
  }
}

}  // namespace

void f32_dwconv_lanes_avx512(const DwLanesArgs& a) {
  if (a.k == 3) return a.stride == 1 ? lanes<3, 1>(a) : lanes<3, 2>(a);
  if (a.k == 7) return a.stride == 1 ? lanes<7, 1>(a) : lanes<7, 2>(a);
  return a.stride == 1 ? lanes<5, 1>(a) : lanes<5, 2>(a);
}

void f32_dwconv_split_rows_avx512(const float* src, size_t h, size_t w, size_t pad_left, float* even, float* odd,
                                  size_t pwh) {
  // As f32_dwconv_split_rows_avx2: input column x lies in padded column x + pad_left; the last partial
  // step loads zeros past the row and its full-width stores write them into the row's right border, the
  // next rows (rewritten after it) or the gap after the plane.
  const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  float* const planes[2] = {even, odd};
  float* ev_dst = planes[pad_left & 1] + pad_left / 2;
  float* od_dst = planes[(pad_left + 1) & 1] + (pad_left + 1) / 2;
  for (size_t y = 0; y < h; ++y, src += w, ev_dst += pwh, od_dst += pwh) {
    for (size_t x = 0; x < w; x += 32) {
      __m512 lo, hi;
      if (x + 32 <= w) {
        lo = _mm512_loadu_ps(src + x), hi = _mm512_loadu_ps(src + x + 16);
      } else {
        const size_t n = w - x;
        lo = _mm512_maskz_loadu_ps(x86::tail_mask(n), src + x);
        hi = n > 16 ? _mm512_maskz_loadu_ps(x86::tail_mask(n - 16), src + x + 16) : _mm512_setzero_ps();
      }
      _mm512_storeu_ps(ev_dst + x / 2, _mm512_permutex2var_ps(lo, ev, hi));
      _mm512_storeu_ps(od_dst + x / 2, _mm512_permutex2var_ps(lo, od, hi));
    }
  }
}

void f32_dwconv_3x3s1_row_avx512(const DwRowArgs& a) { dw_row<3, 1>(a); }
void f32_dwconv_3x3s2_row_avx512(const DwRowArgs& a) { dw_row<3, 2>(a); }
void f32_dwconv_5x5s1_row_avx512(const DwRowArgs& a) { dw_row<5, 1>(a); }
void f32_dwconv_5x5s2_row_avx512(const DwRowArgs& a) { dw_row<5, 2>(a); }
void f32_dwconv_7x7s1_row_avx512(const DwRowArgs& a) { dw_row<7, 1>(a); }
void f32_dwconv_7x7s2_row_avx512(const DwRowArgs& a) { dw_row<7, 2>(a); }

}  // namespace hilsim::kernels
