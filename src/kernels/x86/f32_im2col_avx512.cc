// im2col packing with masked vector loads: a window row that runs into the padding becomes one masked
// load (masked-off lanes read as zero and never fault) instead of a memcpy call and two fill loops.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

namespace {
inline __mmask16 range_mask(int64_t lo, int64_t hi) {  // lanes [lo, hi) of 16
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}
// Bits [lo, hi) of 32, for 0 <= lo < hi <= 32.
inline uint32_t bit_range(int64_t lo, int64_t hi) {
  const uint32_t below_hi = hi >= 32 ? ~0u : ((1u << hi) - 1u);
  return below_hi & ~((1u << lo) - 1u);
}
// ceil(a / stride) for stride 1 or 2, clamped below at 0 (a lane index is never negative). A shift, not
// a division: a first layer builds ~150 of these per strip, and 64-bit divisions cost more than its copy.
inline int64_t ceil_div_nonneg(int64_t a, int64_t stride) { return a <= 0 ? 0 : (a + stride - 1) >> (stride - 1); }
}  // namespace

void f32_im2col_avx512(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                       float* dst, int64_t nr_tile) {
  if (cols > 64 || (s.stride_w != 1 && s.stride_w != 2)) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
  const int64_t H = s.h, W = s.w, OW = s.out_w();
  const __m512 zero = _mm512_setzero_ps();
  auto zero_tail = [&](float* d) {
    for (int64_t j = cols; j < nr_tile; j += 16) _mm512_mask_storeu_ps(d + j, range_mask(0, nr_tile - j), zero);
  };
  if (s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
      s.pad_bottom == 0 && s.pad_right == 0) {
    for (int64_t kk = 0; kk < kc; ++kk) {
      const float* src = in + (k0 + kk) * H * W + p0;
      float* d = dst + kk * nr_tile;
      for (int64_t j = 0; j < cols; j += 16) {
        const __mmask16 m = range_mask(0, cols - j);
        _mm512_mask_storeu_ps(d + j, m, _mm512_maskz_loadu_ps(m, src + j));
      }
      zero_tail(d);
    }
    return;
  }
  // The gather pattern depends on (ky, kx) and the strip, not on c: build it once per call as, per
  // (ky, kx) and 16-lane chunk, a few masked loads relative to the channel plane; the k loop then is
  // loads + one store per chunk. Lane l of a piece reads plane[off + l * stride_w].
  constexpr int kMaxTaps = 49, kMaxChunks = 2, kMaxPieces = 8;
  const int64_t khw = s.kh * s.kw, nchunks = (cols + 15) / 16;
  if (khw > kMaxTaps || nchunks > kMaxChunks) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
  struct Piece {
    int64_t off;
    uint32_t mask;  // stride 1: load lanes; stride 2: input positions (bits 0..31) of the 32-float pair
  };
  Piece pieces[kMaxTaps][kMaxChunks][kMaxPieces];
  int npieces[kMaxTaps][kMaxChunks];  // zeroed for the khw taps in use below
  struct Seg {
    int64_t iy0, ix0, len, off;
  };
  Seg seg[40];
  int nseg = 0;
  for (int64_t j = 0, p = p0; j < cols;) {
    const int64_t oh = p / OW, ow = p % OW, len = std::min(cols - j, OW - ow);
    if (nseg == 40) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
    seg[nseg++] = {oh * s.stride_h - s.pad_top, ow * s.stride_w - s.pad_left, len, j};
    j += len;
    p += len;
  }
  const int64_t sw = s.stride_w;
  std::fill(&npieces[0][0], &npieces[0][0] + khw * kMaxChunks, 0);
  for (int64_t r = 0, ky = 0, kx = 0; r < khw; ++r, kx = kx + 1 == s.kw ? 0 : kx + 1, ky += kx == 0) {
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      for (int i = 0; i < nseg; ++i) {
        const Seg& g = seg[i];
        const int64_t la = std::max<int64_t>(g.off, 16 * ch) - 16 * ch;
        const int64_t lb = std::min<int64_t>(g.off + g.len, 16 * ch + 16) - 16 * ch;
        const int64_t iy = g.iy0 + ky * s.dil_h;
        if (lb <= la || iy < 0 || iy >= H) continue;  // no lanes here, or a padding row: stays zero
        const int64_t ix_l0 = g.ix0 + kx * s.dil_w + (16 * ch - g.off) * sw;
        // Lanes l with 0 <= ix_l0 + l * sw < W, as one range (a per-lane loop here cost more than the
        // copy itself on first layers, where a strip sees 36-49 taps but only 3 channels).
        const int64_t lo = std::max(la, ceil_div_nonneg(-ix_l0, sw));
        const int64_t hi = std::min(lb, ceil_div_nonneg(W - ix_l0, sw));
        if (hi <= lo) continue;
        const uint32_t m = sw == 1 ? bit_range(lo, hi) : (bit_range(2 * lo, 2 * hi) & 0x55555555u);
        int& n = npieces[r][ch];
        if (n == kMaxPieces) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
        pieces[r][ch][n++] = {iy * W + ix_l0, m};
      }
    }
  }
  // Taps outside, channels inside: a tap's pieces are the same for every channel, so the channel loop
  // is its loads and one store with nothing looked up (the row-by-row loop that re-read the pieces of
  // each row cost a third of a 3x3 layer's time at 64 filters). Lanes at or past `cols` load as zero,
  // so each chunk's store also writes the panel's zero tail.
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const int64_t kend = k0 + kc, plane_size = H * W, dstep = khw * nr_tile;
  for (int64_t r = 0; r < khw && r < kend; ++r) {
    const int64_t c_lo = k0 <= r ? 0 : (k0 - r + khw - 1) / khw;  // first channel with k0 <= c * khw + r
    const int64_t c_hi = (kend - r + khw - 1) / khw;              // one past the last with k < kend
    if (c_hi <= c_lo) continue;
    float* d0 = dst + (c_lo * khw + r - k0) * nr_tile;
    const float* plane0 = in + c_lo * plane_size;
    for (int64_t ch = 0; 16 * ch < nr_tile; ++ch) {
      const __mmask16 sm = range_mask(0, nr_tile - 16 * ch);
      const int n = ch < nchunks ? npieces[r][ch] : 0;
      const Piece* pc = pieces[r][std::min<int64_t>(ch, kMaxChunks - 1)];
      float* d = d0 + 16 * ch;
      const float* plane = plane0;
      if (n == 0) {
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep) _mm512_mask_storeu_ps(d, sm, zero);
      } else if (sw == 1 && n == 1) {
        const __mmask16 m0 = static_cast<__mmask16>(pc[0].mask);
        const int64_t o0 = pc[0].off;
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size)
          _mm512_mask_storeu_ps(d, sm, _mm512_maskz_loadu_ps(m0, plane + o0));
      } else if (sw == 1) {
        // Zero-masking loads combined by OR: merge-masking would chain every load on the previous one.
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size) {
          __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[0].mask), plane + pc[0].off);
          for (int i = 1; i < n; ++i)
            v = _mm512_or_ps(v, _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask), plane + pc[i].off));
          _mm512_mask_storeu_ps(d, sm, v);
        }
      } else if (n == 1) {
        const __mmask16 m0 = static_cast<__mmask16>(pc[0].mask), m1 = static_cast<__mmask16>(pc[0].mask >> 16);
        const int64_t o0 = pc[0].off;
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size) {
          const __m512 lo = _mm512_maskz_loadu_ps(m0, plane + o0), hi = _mm512_maskz_loadu_ps(m1, plane + o0 + 16);
          _mm512_mask_storeu_ps(d, sm, _mm512_permutex2var_ps(lo, even, hi));
        }
      } else {
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size) {
          __m512 v = zero;
          for (int i = 0; i < n; ++i) {
            const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask), plane + pc[i].off);
            const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask >> 16), plane + pc[i].off + 16);
            // Masked-off positions load as zero, so pieces combine with OR.
            v = _mm512_or_ps(v, _mm512_permutex2var_ps(lo, even, hi));
          }
          _mm512_mask_storeu_ps(d, sm, v);
        }
      }
    }
  }
}

}  // namespace hilsim::kernels
