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
  int npieces[kMaxTaps][kMaxChunks] = {};
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
  for (int64_t r = 0; r < khw; ++r) {
    const int64_t ky = r / s.kw, kx = r % s.kw;
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      for (int i = 0; i < nseg; ++i) {
        const Seg& g = seg[i];
        const int64_t la = std::max<int64_t>(g.off, 16 * ch) - 16 * ch;
        const int64_t lb = std::min<int64_t>(g.off + g.len, 16 * ch + 16) - 16 * ch;
        const int64_t iy = g.iy0 + ky * s.dil_h;
        if (lb <= la || iy < 0 || iy >= H) continue;  // no lanes here, or a padding row: stays zero
        const int64_t ix_l0 = g.ix0 + kx * s.dil_w + (16 * ch - g.off) * sw;
        uint32_t m = 0;
        for (int64_t l = la; l < lb; ++l) {
          const int64_t ix = ix_l0 + l * sw;
          if (ix >= 0 && ix < W) m |= sw == 1 ? (1u << l) : (1u << (2 * l));
        }
        if (!m) continue;
        int& n = npieces[r][ch];
        if (n == kMaxPieces) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
        pieces[r][ch][n++] = {iy * W + ix_l0, m};
      }
    }
  }
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  int64_t c = k0 / khw, r = k0 % khw;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float* plane = in + c * H * W;
    float* d = dst + kk * nr_tile;
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      __m512 v = zero;
      const Piece* pc = pieces[r][ch];
      const int n = npieces[r][ch];
      if (sw == 1) {
        // Zero-masking loads combined by OR: merge-masking would chain every load on the previous one.
        for (int i = 0; i < n; ++i)
          v = _mm512_or_ps(v, _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask), plane + pc[i].off));
      } else {
        for (int i = 0; i < n; ++i) {
          const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask), plane + pc[i].off);
          const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(pc[i].mask >> 16), plane + pc[i].off + 16);
          // Masked-off positions load as zero, so pieces combine with OR.
          v = _mm512_or_ps(v, _mm512_permutex2var_ps(lo, even, hi));
        }
      }
      _mm512_mask_storeu_ps(d + 16 * ch, range_mask(0, cols - 16 * ch), v);
    }
    zero_tail(d);
    if (++r == khw) r = 0, ++c;
  }
}

}  // namespace hilsim::kernels
