// Implicit-GEMM 3x3 stride-1 conv tile for AVX2 + FMA, 8 filters x 32 (or 16) pixels of one output row:
// the AVX-512 tile's loop (f32_conv3x3_rows_avx512.cc) with B read from the zero-padded input rows, so
// row strips skip the im2col panel that the generic AVX2 packing builds with a memcpy per tap and
// channel. The 8 x 32 tile needs 32 ymm accumulators and AVX2 has 16 registers, so it runs as sub-tiles
// of R filters x V vectors, each over all c x 9 taps (the GEMM micro-kernel's scheme, f32_gemm_avx2.cc):
// 4 x 24 (12 accumulators, 3 row loads + 4 broadcasts per 12 FMAs) for both filter halves, then the last
// 8 pixels for all 8 filters; a 16-pixel half tile runs two 4 x 16 sub-tiles. On an AVX2-only EPYC
// (1 thread) the c32 80x80 layer went from 0.52-0.54x oneDNN (packed path) to 0.87-0.90x; four 4 x 16
// sub-tiles measured the same within the shared host's noise, 6 + 2 rows x 16 and 2 + 3 + 3 rows x 32
// 10-25% slower.
#include <immintrin.h>

#include "hilsim/kernels/gemm.h"
#include "vec_math_avx2.h"

namespace hilsim::kernels {

namespace {

// Filters [r0, r0 + R) x pixels [px, px + 8V) of the tile. The packed A rows past mr are zero, so rows
// beyond mr only compute zeros, never stored.
template <int R, int V>
inline void sub_tile(const Conv3x3RowTile& t, int r0, int64_t px, const UkernelEpilogue& ep) {
  __m256 acc[R][V];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    const size_t f = static_cast<size_t>(r0 + i);
    const __m256 b = (ep.bias_row && f < t.mr) ? _mm256_set1_ps(ep.bias_row[f]) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = b;
  }
  const float* a = t.a + r0;
  const int64_t plane = t.h * t.w;
  const float* in = t.in + t.oy * t.w + t.ox0 + px;
  // Taps as plain loops: unrolled, GCC hoists the next tap's row loads and the 4 x 24 tile (16 live
  // registers) spills accumulators inside the loop.
  for (int64_t c = 0; c < t.c; ++c, in += plane) {
#pragma GCC unroll 1
    for (int ky = 0; ky < 3; ++ky) {
      const float* row = in + ky * t.w;
#pragma GCC unroll 1
      for (int kx = 0; kx < 3; ++kx) {
        __m256 bv[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(row + kx + 8 * v);
#pragma GCC unroll 8
        for (int i = 0; i < R; ++i) {
          const __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
          for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
        }
        a += 8;
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    if (static_cast<size_t>(r0 + i) >= t.mr) break;
    float* o = t.out + static_cast<size_t>(r0 + i) * t.ldc + px;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(o + 8 * v, x86::act_avx2(ep.act, acc[i][v]));
  }
}

}  // namespace

void f32_conv3x3_rows_8x32_avx2(const Conv3x3RowTile& t, const UkernelEpilogue& ep) {
  if (t.nr == 16) {
    sub_tile<4, 2>(t, 0, 0, ep);
    if (t.mr > 4) sub_tile<4, 2>(t, 4, 0, ep);
    return;
  }
  sub_tile<4, 3>(t, 0, 0, ep);
  if (t.mr > 4) sub_tile<4, 3>(t, 4, 0, ep);
  sub_tile<8, 1>(t, 0, 24, ep);
}

}  // namespace hilsim::kernels
