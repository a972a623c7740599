// im2col packing for AVX2, the AVX-512 one's scheme (f32_im2col_avx512.cc) on 8-lane chunks: a window
// row that runs into the padding or across an output row becomes a few masked loads (masked-off lanes
// read as zero and never fault) combined by OR, one full store per chunk, instead of a memcpy call and
// two fill loops per tap and channel in the generic packing.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

namespace {
// Bits [lo, hi) of 16, for 0 <= lo < hi <= 16.
inline uint32_t bit_range(int64_t lo, int64_t hi) { return ((1u << hi) - 1u) & ~((1u << lo) - 1u); }
// ceil(a / stride) for stride 1 or 2, clamped below at 0 (as in the AVX-512 packing: a shift, no division).
inline int64_t ceil_div_nonneg(int64_t a, int64_t stride) { return a <= 0 ? 0 : (a + stride - 1) >> (stride - 1); }
// Lane i of the result is all ones where bit i of `bits` is set (lanes 0..7).
inline __m256i lane_mask(uint32_t bits) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel), sel);
}
// The even floats of the 16 at lo:hi (stride-2 lanes), in order.
inline __m256 even_lanes(__m256 lo, __m256 hi) {
  const __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));  // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
}  // namespace

void f32_im2col_avx2(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                     float* dst, int64_t nr_tile) {
  constexpr int kMaxTaps = 49, kMaxChunks = 4, kMaxPieces = 4;
  const int64_t khw = s.kh * s.kw, nchunks = (cols + 7) / 8;
  if (nr_tile % 8 != 0 || nr_tile > 8 * kMaxChunks || cols > nr_tile || (s.stride_w != 1 && s.stride_w != 2) ||
      khw > kMaxTaps)
    return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
  const int64_t H = s.h, W = s.w, OW = s.out_w();
  if (s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
      s.pad_bottom == 0 && s.pad_right == 0) {
    const int64_t full = cols / 8 * 8;
    const __m256i tail = lane_mask((1u << (cols - full)) - 1u);
    for (int64_t kk = 0; kk < kc; ++kk) {
      const float* src = in + (k0 + kk) * H * W + p0;
      float* d = dst + kk * nr_tile;
      int64_t j = 0;
      for (; j < full; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(src + j));
      if (j < cols) _mm256_storeu_ps(d + j, _mm256_maskload_ps(src + j, tail)), j += 8;
      for (; j < nr_tile; j += 8) _mm256_storeu_ps(d + j, _mm256_setzero_ps());
    }
    return;
  }
  // Per (ky, kx) and 8-lane chunk, the pieces of the strip (one per output row it crosses) as offsets
  // relative to the channel plane and lane masks; they are the same for every channel, so the channel
  // loop below is loads and one store. Lane l of a piece reads plane[off + l * stride_w].
  struct Piece {
    int64_t off;
    uint32_t mask;  // stride 1: lanes (bits 0..7); stride 2: input positions (bits 0..15) of the 16 floats
  };
  Piece pieces[kMaxTaps][kMaxChunks][kMaxPieces];
  int npieces[kMaxTaps][kMaxChunks];
  struct Seg {
    int64_t iy0, ix0, len, off;
  };
  Seg seg[34];
  int nseg = 0;
  for (int64_t j = 0, p = p0; j < cols;) {
    const int64_t oh = p / OW, ow = p % OW, len = std::min(cols - j, OW - ow);
    if (nseg == 34) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
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
        const int64_t la = std::max<int64_t>(g.off, 8 * ch) - 8 * ch;
        const int64_t lb = std::min<int64_t>(g.off + g.len, 8 * ch + 8) - 8 * ch;
        const int64_t iy = g.iy0 + ky * s.dil_h;
        if (lb <= la || iy < 0 || iy >= H) continue;  // no lanes here, or a padding row: stays zero
        const int64_t ix_l0 = g.ix0 + kx * s.dil_w + (8 * ch - g.off) * sw;
        const int64_t lo = std::max(la, ceil_div_nonneg(-ix_l0, sw));
        const int64_t hi = std::min(lb, ceil_div_nonneg(W - ix_l0, sw));
        if (hi <= lo) continue;
        const uint32_t m = sw == 1 ? bit_range(lo, hi) : (bit_range(2 * lo, 2 * hi) & 0x5555u);
        int& n = npieces[r][ch];
        if (n == kMaxPieces) return f32_im2col_generic(s, in, p0, cols, k0, kc, dst, nr_tile);
        pieces[r][ch][n++] = {iy * W + ix_l0, m};
      }
    }
  }
  // Taps outside, channels inside, as in the AVX-512 packing. Lanes at or past `cols` load as zero, so
  // each chunk's store also writes the panel's zero tail.
  const int64_t kend = k0 + kc, plane_size = H * W, dstep = khw * nr_tile;
  for (int64_t r = 0; r < khw && r < kend; ++r) {
    const int64_t c_lo = k0 <= r ? 0 : (k0 - r + khw - 1) / khw;  // first channel with k0 <= c * khw + r
    const int64_t c_hi = (kend - r + khw - 1) / khw;              // one past the last with k < kend
    if (c_hi <= c_lo) continue;
    float* d0 = dst + (c_lo * khw + r - k0) * nr_tile;
    const float* plane0 = in + c_lo * plane_size;
    for (int64_t ch = 0; 8 * ch < nr_tile; ++ch) {
      const int n = ch < nchunks ? npieces[r][ch] : 0;
      const Piece* pc = pieces[r][std::min<int64_t>(ch, kMaxChunks - 1)];
      float* d = d0 + 8 * ch;
      const float* plane = plane0;
      if (n == 0) {
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep) _mm256_storeu_ps(d, _mm256_setzero_ps());
      } else if (sw == 1 && n == 1 && pc[0].mask == 0xFFu) {
        const int64_t o0 = pc[0].off;
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size)
          _mm256_storeu_ps(d, _mm256_loadu_ps(plane + o0));
      } else if (sw == 1) {
        __m256i m[kMaxPieces];
        for (int i = 0; i < n; ++i) m[i] = lane_mask(pc[i].mask);
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size) {
          __m256 v = _mm256_maskload_ps(plane + pc[0].off, m[0]);
          for (int i = 1; i < n; ++i) v = _mm256_or_ps(v, _mm256_maskload_ps(plane + pc[i].off, m[i]));
          _mm256_storeu_ps(d, v);
        }
      } else {
        __m256i mlo[kMaxPieces], mhi[kMaxPieces];
        for (int i = 0; i < n; ++i) mlo[i] = lane_mask(pc[i].mask & 0xFFu), mhi[i] = lane_mask(pc[i].mask >> 8);
        for (int64_t c = c_lo; c < c_hi; ++c, d += dstep, plane += plane_size) {
          __m256 v = _mm256_setzero_ps();
          for (int i = 0; i < n; ++i) {
            const __m256 lo = _mm256_maskload_ps(plane + pc[i].off, mlo[i]);
            const __m256 hi = _mm256_maskload_ps(plane + pc[i].off + 8, mhi[i]);
            v = _mm256_or_ps(v, even_lanes(lo, hi));  // masked-off positions load as zero
          }
          _mm256_storeu_ps(d, v);
        }
      }
    }
  }
}

}  // namespace hilsim::kernels
