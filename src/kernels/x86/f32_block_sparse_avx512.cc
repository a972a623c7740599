// AVX-512 kept-column micro-kernels: FB filters x V vectors of 16 output pixels held in registers;
// each kept column costs V input loads and FB broadcasts. Partial tiles use masked loads, which do not
// fault past the end of the input. With ColTileArgs::out set, the epilogue (activation, dropping the
// plane's padding columns by a lane compress) runs on the registers and stores to the output directly.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/sparse_conv.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {
namespace {

template <int FB, int V, bool kMasked>
inline void run_cols(const ColTileArgs& a, __m512 (&acc)[FB][V], const __mmask16 (&m)[V]) {
  int64_t j = 0;
  if constexpr (FB == 1) {
    // One filter has only V accumulator chains, too few to hide the FMA latency: alternate two sets.
    __m512 acc2[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc2[v] = _mm512_setzero_ps();
    for (; j + 2 <= a.ncols; j += 2) {
      const float* s0 = a.base + a.off[j];
      const float* s1 = a.base + a.off[j + 1];
      const __m512 w0 = _mm512_set1_ps(a.vals[j * a.vstride]);
      const __m512 w1 = _mm512_set1_ps(a.vals[(j + 1) * a.vstride]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        const __m512 x0 = kMasked ? _mm512_maskz_loadu_ps(m[v], s0 + 16 * v) : _mm512_loadu_ps(s0 + 16 * v);
        const __m512 x1 = kMasked ? _mm512_maskz_loadu_ps(m[v], s1 + 16 * v) : _mm512_loadu_ps(s1 + 16 * v);
        acc[0][v] = _mm512_fmadd_ps(w0, x0, acc[0][v]);
        acc2[v] = _mm512_fmadd_ps(w1, x1, acc2[v]);
      }
    }
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[0][v] = _mm512_add_ps(acc[0][v], acc2[v]);
  }
  for (; j < a.ncols; ++j) {
    const float* src = a.base + a.off[j];
    const float* w = a.vals + j * a.vstride;
    __m512 x[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) x[v] = kMasked ? _mm512_maskz_loadu_ps(m[v], src + 16 * v) : _mm512_loadu_ps(src + 16 * v);
#pragma GCC unroll 16
    for (int f = 0; f < FB; ++f) {
      const __m512 wf = _mm512_set1_ps(w[f]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[f][v] = _mm512_fmadd_ps(wf, x[v], acc[f][v]);
    }
  }
}

// The fused epilogue: a full vector is one store; a vector holding a row end (or the plane's end)
// keeps its output lanes by a compress, which packs them in order, and stores that many.
template <int FB, int V>
inline void store_out(const ColTileArgs& a, __m512 (&acc)[FB][V]) {
  __mmask16 m[V], packed[V];
  for (int v = 0; v < V; ++v) {
    m[v] = a.lane_mask[v];
    packed[v] = static_cast<__mmask16>((1u << __builtin_popcount(m[v])) - 1u);
  }
#pragma GCC unroll 16
  for (int f = 0; f < FB; ++f) {
    if (f >= a.nf) break;
    float* o = a.out + f * a.out_stride;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const __m512 y = x86::act_avx512(*a.ep, acc[f][v]);
      if (m[v] == 0xFFFF)
        _mm512_storeu_ps(o + a.out_at[v], y);
      else if (m[v])
        _mm512_mask_storeu_ps(o + a.out_at[v], packed[v], _mm512_maskz_compress_ps(m[v], y));
    }
  }
}

template <int FB, int V>
void tile_avx512(const ColTileArgs& a) {
  __m512 acc[FB][V];
#pragma GCC unroll 16
  for (int f = 0; f < FB; ++f) {
    const __m512 b = _mm512_set1_ps(a.bias[f]);
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[f][v] = a.init ? _mm512_loadu_ps(a.init + f * 16 * V + 16 * v) : b;
  }
  __mmask16 m[V];
  if (a.valid >= 16 * V) {
    for (int v = 0; v < V; ++v) m[v] = 0xFFFF;
    run_cols<FB, V, false>(a, acc, m);
  } else {
    for (int v = 0; v < V; ++v) {
      const int64_t left = a.valid - 16 * v;
      m[v] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
    }
    run_cols<FB, V, true>(a, acc, m);
  }
  if (a.out) {
    store_out<FB, V>(a, acc);
    return;
  }
#pragma GCC unroll 16
  for (int f = 0; f < FB; ++f)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(a.acc + f * 16 * V + 16 * v, acc[f][v]);
}

}  // namespace

ColTileFn col_tile_avx512(int fb, int width) {
  // In kColTileShapes' order (width = 16 x V). 8 x 48: 24 accumulators, 8 broadcasts per 24 FMAs (8
  // per 16 at 8 x 32) and fewer calls per row.
  static constexpr ColTileFn kTiles[] = {&tile_avx512<1, 8>, &tile_avx512<1, 4>, &tile_avx512<1, 2>, &tile_avx512<1, 1>,
                                         &tile_avx512<2, 4>, &tile_avx512<2, 2>, &tile_avx512<2, 1>, &tile_avx512<4, 4>,
                                         &tile_avx512<4, 2>, &tile_avx512<4, 1>, &tile_avx512<8, 3>, &tile_avx512<8, 2>,
                                         &tile_avx512<16, 1>};
  static_assert(sizeof kTiles / sizeof kTiles[0] == kColTileCount);
  const int i = col_tile_index(fb, width);
  return i < 0 ? nullptr : kTiles[i];
}

}  // namespace hilsim::kernels
