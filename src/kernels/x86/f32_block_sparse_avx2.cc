// AVX2 kept-column micro-kernels. A whole FB x T tile (up to 32 ymm) does not fit the 16 registers, so
// the tile runs as sub-tiles of FBc filters x C vectors of 8 pixels (FBc * C = 8 accumulators), each
// re-walking the row's column list: per column a sub-tile costs C input loads and FBc broadcasts for
// 8 FMAs, which keeps Zen / Skylake FMA-bound rather than load-bound. Partial tiles use masked loads
// (masked-off lanes read as zero and never fault); sub-tiles wholly past `valid` only copy their start.
#include <immintrin.h>

#include "hilsim/kernels/sparse_conv.h"
#include "vec_math_avx2.h"

namespace hilsim::kernels {
// Internal linkage: the avx512 file has templates of the same shape, and identically named inline
// instantiations from two ISAs would be merged by the linker.
namespace {

using x86::tail_mask_avx2;

template <int FBc, int C, bool kMasked>
inline void run_cols(const ColTileArgs& a, int f0, int64_t q, __m256 (&acc)[FBc][C], const __m256i (&m)[C]) {
  const float* base = a.base + q;
  const float* vals = a.vals + f0;
  for (int64_t j = 0; j < a.ncols; ++j) {
    const float* src = base + a.off[j];
    const float* w = vals + j * a.vstride;
    __m256 x[C];
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) x[v] = kMasked ? _mm256_maskload_ps(src + 8 * v, m[v]) : _mm256_loadu_ps(src + 8 * v);
#pragma GCC unroll 8
    for (int f = 0; f < FBc; ++f) {
      const __m256 wf = _mm256_broadcast_ss(w + f);
#pragma GCC unroll 8
      for (int v = 0; v < C; ++v) acc[f][v] = _mm256_fmadd_ps(wf, x[v], acc[f][v]);
    }
  }
}

// Filters [f0, f0 + FBc) x pixels [q, q + 8C) of a tile T pixels wide.
template <int T, int FBc, int C>
inline void sub_tile(const ColTileArgs& a, int f0, int64_t q) {
  __m256 acc[FBc][C];
#pragma GCC unroll 8
  for (int f = 0; f < FBc; ++f) {
    const __m256 b = _mm256_set1_ps(a.bias[f0 + f]);
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) acc[f][v] = a.init ? _mm256_loadu_ps(a.init + (f0 + f) * T + q + 8 * v) : b;
  }
  const int64_t left = a.valid - q;
  __m256i m[C];
  if (left >= 8 * C) {
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) m[v] = _mm256_set1_epi32(-1);
    run_cols<FBc, C, false>(a, f0, q, acc, m);
  } else if (left > 0) {
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) m[v] = tail_mask_avx2(static_cast<ptrdiff_t>(left - 8 * v));
    run_cols<FBc, C, true>(a, f0, q, acc, m);
  }
#pragma GCC unroll 8
  for (int f = 0; f < FBc; ++f)
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) _mm256_storeu_ps(a.acc + (f0 + f) * T + q + 8 * v, acc[f][v]);
}

template <int FB, int T, int FBc, int C>
void tile_avx2(const ColTileArgs& a) {
  static_assert(FB % FBc == 0 && T % (8 * C) == 0, "sub-tiles must cover the tile");
  for (int f0 = 0; f0 < FB; f0 += FBc)
    for (int64_t q = 0; q < T; q += 8 * C) sub_tile<T, FBc, C>(a, f0, q);
}

}  // namespace

ColTileFn col_tile_avx2(int fb, int width) {
  // In kColTileShapes' order.
  static constexpr ColTileFn kTiles[] = {
      &tile_avx2<1, 128, 1, 8>, &tile_avx2<1, 64, 1, 8>, &tile_avx2<1, 32, 1, 4>, &tile_avx2<1, 16, 1, 2>,
      &tile_avx2<2, 64, 2, 4>,  &tile_avx2<2, 32, 2, 4>, &tile_avx2<2, 16, 2, 2>, &tile_avx2<4, 64, 4, 2>,
      &tile_avx2<4, 32, 4, 2>,  &tile_avx2<4, 16, 4, 2>, &tile_avx2<8, 48, 4, 2>, &tile_avx2<8, 32, 4, 2>,
      &tile_avx2<16, 16, 4, 2>};
  static_assert(sizeof kTiles / sizeof kTiles[0] == kColTileCount);
  const int i = col_tile_index(fb, width);
  return i < 0 ? nullptr : kTiles[i];
}

}  // namespace hilsim::kernels
