// AVX2 depthwise row kernels: blocks of kDwRowBlock output rows x 16 outputs (two ymm per row), 2R
// independent FMA chains (one chain of K * K dependent FMAs would leave the FMA units idle for most of
// its latency). The taps are broadcast from memory as each input row uses them. Stride 2 reads the
// plane split into its even and odd columns (f32_dwconv_split_rows_avx2), so that its taps are plain
// loads as at stride 1.
// Channel-lanes work items: a pixel's 16 channels are two ymm; 8x8 in-register transposes in and out.
#include <immintrin.h>

#include "hilsim/kernels/depthwise_conv.h"
#include <algorithm>

#include "vec_math_avx2.h"

namespace hilsim::kernels {

namespace {

// The inputs of tap column kx for 8 consecutive outputs. Stride 1: from src, the window's row start.
// Stride 2 reads the row's split planes (DwRowArgs::odd_offset): window column 2o + kx is column
// o + kx / 2 of the even plane (kx even) or of the odd one, so every tap is one plain load, as at stride
// 1. Gathering the even lanes in the loop cost a shuffle per tap and a permute per store (0.35x oneDNN at
// 112 wide); splitting costs four shuffles per 16 inputs once, in the copy that pads the plane anyway.
template <int S>
inline __m256 load_taps(const float* src, size_t odd, int kx) {
  if constexpr (S == 1) {
    return _mm256_loadu_ps(src + kx);
  } else {
    return _mm256_loadu_ps(src + (kx & 1 ? odd : 0) + kx / 2);
  }
}

// kDwRowBlock output rows x kDwRowLanes outputs (two ymm) per step: the rows read (R - 1) * S + K input
// rows, each input vector is loaded once and fed to every row whose window holds
// it, and the 2R accumulators are independent FMA chains. One row of two vectors (the former kernel)
// waited on the FMA latency K * K times per 16 outputs and ran at a quarter of oneDNN on 28-wide maps.
template <int K, int S, int R>
void row_block(const DwRowArgs& a, __m256 bias, const float* in, float* out) {
  constexpr int kInRows = (R - 1) * S + K;
  const bool act = a.ep->act != Act::kNone;
  const size_t ow = a.ow_count;
  for (size_t o = 0; o < ow; o += 16) {
    // The vectors at o0 and o1. A row's last step, where fewer than 16 outputs are left, moves back to
    // end at the row's end and recomputes a few outputs (the same values) instead of masking its stores:
    // AMD runs vmaskmovps stores microcoded, and the two per row of a 28-wide map's last step took a
    // third of its time. Only rows narrower than 8 outputs still mask the store.
    size_t o0 = o, o1 = o + 8;
    if (o + 16 > ow) {
      if (ow >= 16) {
        o0 = ow - 16, o1 = ow - 8;
      } else if (ow >= 8) {
        o1 = ow - 8;
      }
    }
    __m256 acc[R][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = bias;
#pragma GCC unroll 13
    for (int iy = 0; iy < kInRows; ++iy) {
      const float* row = in + iy * a.pw;
      // The taps are broadcast from memory where they are used: with the 8 accumulators the 9+ tap
      // vectors exceed the 16 ymm, and GCC, holding the taps, spilled accumulators instead (a store and
      // reload in the FMA chains). The empty asm hides that wt is a.w again, so the broadcasts are neither
      // hoisted nor shared across input rows.
      const float* wt = a.w;
      asm("" : "+r"(wt));
#pragma GCC unroll 7
      for (int kx = 0; kx < K; ++kx) {
        const __m256 v0 = load_taps<S>(row + o0, a.odd_offset, kx), v1 = load_taps<S>(row + o1, a.odd_offset, kx);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int ky = iy - r * S;
          if (ky >= 0 && ky < K) {
            const __m256 t = _mm256_broadcast_ss(wt + ky * K + kx);
            acc[r][0] = _mm256_fmadd_ps(t, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(t, v1, acc[r][1]);
          }
        }
      }
    }
    // Loads past the row stay inside the padded plane's over-read slack.
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float* dst = out + r * a.out_step;
      if (act) acc[r][0] = x86::act_avx2(*a.ep, acc[r][0]), acc[r][1] = x86::act_avx2(*a.ep, acc[r][1]);
      if (ow >= 8) {
        _mm256_storeu_ps(dst + o0, acc[r][0]);
        _mm256_storeu_ps(dst + o1, acc[r][1]);
      } else {
        _mm256_maskstore_ps(dst, x86::tail_mask_avx2(static_cast<ptrdiff_t>(ow)), acc[r][0]);
      }
    }
  }
}

template <int K, int S>
void dw_row(const DwRowArgs& a) {
  const __m256 bias = _mm256_set1_ps(a.bias);
  static_assert(kDwRowBlock == 4 && kDwRowLanes == 16, "the remainders below and two ymm per row");
  constexpr size_t R = kDwRowBlock;
  size_t r = 0;
  for (; r + R <= a.rows; r += R) row_block<K, S, R>(a, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  const size_t left = a.rows - r;
  if (left == 3) row_block<K, S, 3>(a, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 2) row_block<K, S, 2>(a, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 1) row_block<K, S, 1>(a, bias, a.in + r * a.in_step, a.out + r * a.out_step);
}

// r[i] lane j <- r[j] lane i (24 shuffles): swap the 128-bit halves first, then each half is a 4x4
// transpose of its own.
inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
#pragma GCC unroll 2
  for (int g = 0; g < 8; g += 4) {
    const __m256 lo01 = _mm256_unpacklo_ps(t[g], t[g + 1]), hi01 = _mm256_unpackhi_ps(t[g], t[g + 1]);
    const __m256 lo23 = _mm256_unpacklo_ps(t[g + 2], t[g + 3]), hi23 = _mm256_unpackhi_ps(t[g + 2], t[g + 3]);
    r[g] = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 1] = _mm256_shuffle_ps(lo01, lo23, _MM_SHUFFLE(3, 2, 3, 2));
    r[g + 2] = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 3] = _mm256_shuffle_ps(hi01, hi23, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

// Window rows [ky0, ky1) and block-relative tile columns [ix0, ix1) that lie on the map (dw_tap_range).
struct Clip {
  int ky0, ky1, ix0, ix1;
};

// N output pixels of one row (two ymm each); the taps come from memory as FMA operands, since 5x5's 50
// tap vectors exceed the 16 registers. kClip: a border block, which skips the taps on the zero border.
template <int K, int S, int N, bool kClip>
inline void lanes_block(const DwLanesArgs& a, const float* in, float* out, __m256 b0, __m256 b1, bool act, Clip c) {
  __m256 acc[N][2];
#pragma GCC unroll 8
  for (int n = 0; n < N; ++n) acc[n][0] = b0, acc[n][1] = b1;
  const int ky0 = kClip ? c.ky0 : 0, ky1 = kClip ? c.ky1 : K;
#pragma GCC unroll 7
  for (int ky = ky0; ky < ky1; ++ky) {
    const float* row = in + ky * a.pw * 16;
    const float* w = a.w + ky * K * 16;
#pragma GCC unroll 16
    for (int ix = 0; ix < (N - 1) * S + K; ++ix) {
      if (kClip && (ix < c.ix0 || ix >= c.ix1)) continue;
      const __m256 v0 = _mm256_loadu_ps(row + ix * 16), v1 = _mm256_loadu_ps(row + ix * 16 + 8);
#pragma GCC unroll 8
      for (int n = 0; n < N; ++n) {
        const int kx = ix - n * S;
        if (kx >= 0 && kx < K) {
          acc[n][0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + kx * 16), v0, acc[n][0]);
          acc[n][1] = _mm256_fmadd_ps(_mm256_loadu_ps(w + kx * 16 + 8), v1, acc[n][1]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int n = 0; n < N; ++n) {
    _mm256_storeu_ps(out + n * 16, act ? x86::act_avx2(*a.ep, acc[n][0]) : acc[n][0]);
    _mm256_storeu_ps(out + n * 16 + 8, act ? x86::act_avx2(*a.ep, acc[n][1]) : acc[n][1]);
  }
}

// The block of N outputs from column ox of a row whose window rows on the map are `rows`.
template <int K, int S, int N>
inline void lanes_run(const DwLanesArgs& a, const float* in, float* out, __m256 b0, __m256 b1, bool act,
                      DwTapRange rows, size_t ox) {
  const int64_t ix0 = static_cast<int64_t>(a.pad_left) - static_cast<int64_t>(ox) * S;
  const int64_t ix1 = ix0 + static_cast<int64_t>(a.w_in);
  in += ox * S * 16, out += ox * 16;
  if (rows.lo == 0 && rows.hi == K && ix0 <= 0 && ix1 >= (N - 1) * S + K)
    return lanes_block<K, S, N, false>(a, in, out, b0, b1, act, {});
  const Clip c{rows.lo, rows.hi, static_cast<int>(std::clamp<int64_t>(ix0, 0, 64)),
               static_cast<int>(std::clamp<int64_t>(ix1, 0, 64))};
  lanes_block<K, S, N, true>(a, in, out, b0, b1, act, c);
}

template <int K, int S>
void lanes(const DwLanesArgs& args) {
  const DwLanesArgs a = args;  // a local copy, so stores to the planes need no reload of its pointers
  constexpr size_t kN = 4;     // 8 accumulators + 2 inputs + tap operands within 16 registers
  const size_t hw = a.h * a.w_in, ohw = a.oh * a.ow;
  const __m256 zero = _mm256_setzero_ps();
  // Transpose in, 8 pixels of the flattened plane by 8 channels at a time.
  {
    size_t x = 0;
    float* dst = a.tile + (a.pad_top * a.pw + a.pad_left) * 16;
    for (size_t p = 0; p < hw; p += 8) {
      const size_t n = std::min<size_t>(8, hw - p);
      const __m256i m = x86::tail_mask_avx2(static_cast<ptrdiff_t>(n));
      __m256 r[2][8];
      if (n == 8 && a.channels == 16) {
        // Full groups load plainly, unrolled: the masked loads' loop held a tenth of a 14-wide layer.
#pragma GCC unroll 16
        for (size_t c = 0; c < 16; ++c) r[c / 8][c % 8] = _mm256_loadu_ps(a.in + p + c * hw);
      } else {
        for (size_t h = 0; h < 2; ++h) {
          const float* src = a.in + p + h * 8 * hw;
          for (size_t c = 0; c < 8; ++c, src += hw)
            r[h][c] = h * 8 + c < a.channels ? _mm256_maskload_ps(src, m) : zero;
        }
      }
      transpose8(r[0]);
      transpose8(r[1]);
      for (size_t j = 0; j < n; ++j) {
        _mm256_storeu_ps(dst, r[0][j]);
        _mm256_storeu_ps(dst + 8, r[1][j]);
        dst += 16;
        if (++x == a.w_in) x = 0, dst += (a.pw - a.w_in) * 16;
      }
    }
  }
  float* otile = a.tile + a.ph * a.pw * 16;
  const __m256 b0 = _mm256_loadu_ps(a.bias), b1 = _mm256_loadu_ps(a.bias + 8);
  const bool act = a.ep->act != Act::kNone;
  for (size_t oy = 0; oy < a.oh; ++oy) {
    const float* in = a.tile + oy * S * a.pw * 16;
    float* out = otile + oy * a.ow * 16;
    const DwTapRange rows = dw_tap_range(static_cast<int64_t>(oy), S, K, static_cast<int64_t>(a.pad_top),
                                         static_cast<int64_t>(a.h));
    size_t ox = 0;
    for (; ox + kN <= a.ow; ox += kN) lanes_run<K, S, kN>(a, in, out, b0, b1, act, rows, ox);
    switch (a.ow - ox) {
      case 3: lanes_run<K, S, 3>(a, in, out, b0, b1, act, rows, ox); break;
      case 2: lanes_run<K, S, 2>(a, in, out, b0, b1, act, rows, ox); break;
      case 1: lanes_run<K, S, 1>(a, in, out, b0, b1, act, rows, ox); break;
      default: break;
    }
  }
  // Transpose out, 8 output pixels at a time; only the group's channels are stored.
  for (size_t q0 = 0; q0 < ohw; q0 += 8) {
    // A partial last step of a plane of 8 outputs or more moves back to end at the plane's end and
    // stores the overlap again (masked stores run microcoded on AMD).
    const size_t q = q0 + 8 > ohw && ohw >= 8 ? ohw - 8 : q0;
    const size_t n = std::min<size_t>(8, ohw - q);
    const __m256i m = x86::tail_mask_avx2(static_cast<ptrdiff_t>(n));
    for (size_t h = 0; h < 2 && h * 8 < a.channels; ++h) {
      __m256 r[8];
      for (size_t j = 0; j < 8; ++j) r[j] = j < n ? _mm256_loadu_ps(otile + (q + j) * 16 + h * 8) : zero;
      transpose8(r);
      float* o = a.out + q + h * 8 * ohw;
      const size_t cn = std::min<size_t>(8, a.channels - h * 8);
      for (size_t c = 0; c < cn; ++c, o += ohw) {
        if (n == 8) {
          _mm256_storeu_ps(o, r[c]);
        } else {
          _mm256_maskstore_ps(o, m, r[c]);
        }
      }
    }
  }
}

}  // namespace

void f32_dwconv_copy_rows_avx2(const float* src, size_t h, size_t w, float* dst, size_t pw) {
  // Rows of 8 or more floats end with one overlapping vector; narrower ones are masked (the border
  // zeros right of the row must stay).
  const __m256i m = x86::tail_mask_avx2(static_cast<ptrdiff_t>(w));
  for (size_t y = 0; y < h; ++y, src += w, dst += pw) {
    if (w < 8) {
      _mm256_maskstore_ps(dst, m, _mm256_maskload_ps(src, m));
      continue;
    }
    size_t x = 0;
    for (; x + 8 < w; x += 8) _mm256_storeu_ps(dst + x, _mm256_loadu_ps(src + x));
    _mm256_storeu_ps(dst + w - 8, _mm256_loadu_ps(src + w - 8));
  }
}

void f32_dwconv_split_rows_avx2(const float* src, size_t h, size_t w, size_t pad_left, float* even, float* odd,
                                size_t pwh) {
  // Input column x lies in padded column x + pad_left: the even inputs go to one plane, the odd ones to
  // the other, from column pad_left / 2 resp. (pad_left + 1) / 2 on.
  float* const planes[2] = {even, odd};
  float* ev_dst = planes[pad_left & 1] + pad_left / 2;
  float* od_dst = planes[(pad_left + 1) & 1] + (pad_left + 1) / 2;
  for (size_t y = 0; y < h; ++y, src += w, ev_dst += pwh, od_dst += pwh) {
    for (size_t x = 0; x < w; x += 16) {
      __m256 lo, hi;
      if (x + 16 <= w) {
        lo = _mm256_loadu_ps(src + x), hi = _mm256_loadu_ps(src + x + 8);
      } else {
        // The last partial step: masked-off lanes load zeros, and the full-width stores below write
        // those zeros past the row's end, into its right border, the next rows' left border or the
        // columns the next rows write after this one (the caller leaves a gap of kDwSplitGap floats
        // after each plane, so that the last row's zeros stay out of the other plane).
        const ptrdiff_t n = static_cast<ptrdiff_t>(w - x);
        lo = _mm256_maskload_ps(src + x, x86::tail_mask_avx2(n));
        hi = n > 8 ? _mm256_maskload_ps(src + x + 8, x86::tail_mask_avx2(n - 8)) : _mm256_setzero_ps();
      }
      // [l0 l2 h0 h2 | l4 l6 h4 h6] -> [l0 l2 l4 l6 h0 h2 h4 h6], the odd lanes likewise.
      const __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
      const __m256d d = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
      _mm256_storeu_ps(ev_dst + x / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(e, _MM_SHUFFLE(3, 1, 2, 0))));
      _mm256_storeu_ps(od_dst + x / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(d, _MM_SHUFFLE(3, 1, 2, 0))));
    }
  }
}

void f32_dwconv_lanes_avx2(const DwLanesArgs& a) {
  if (a.k == 3) return a.stride == 1 ? lanes<3, 1>(a) : lanes<3, 2>(a);
  if (a.k == 7) return a.stride == 1 ? lanes<7, 1>(a) : lanes<7, 2>(a);
  return a.stride == 1 ? lanes<5, 1>(a) : lanes<5, 2>(a);
}

void f32_dwconv_3x3s1_row_avx2(const DwRowArgs& a) { dw_row<3, 1>(a); }
void f32_dwconv_3x3s2_row_avx2(const DwRowArgs& a) { dw_row<3, 2>(a); }
void f32_dwconv_5x5s1_row_avx2(const DwRowArgs& a) { dw_row<5, 1>(a); }
void f32_dwconv_5x5s2_row_avx2(const DwRowArgs& a) { dw_row<5, 2>(a); }
void f32_dwconv_7x7s1_row_avx2(const DwRowArgs& a) { dw_row<7, 1>(a); }
void f32_dwconv_7x7s2_row_avx2(const DwRowArgs& a) { dw_row<7, 2>(a); }

}  // namespace hilsim::kernels
