// AVX2 kept-column micro-kernels. A whole FB x T tile (up to 32 ymm) does not fit the 16 registers, so
// the tile runs as sub-tiles of FBc filters x C vectors of 8 pixels, each re-walking the row's column
// list. Rows of 8 and 16 filters use 12-accumulator sub-tiles (8 x 48: 4 x 3; 8 x 32: 3 x 4, 3 x 4,
// 2 x 4; 16 x 16: 6 x 2, 6 x 2, 4 x 2): 8 accumulators are exactly the FMA latency x 2 pipes of Zen 4,
// so any stall idled a pipe, and 12 cut the walks per tile (6 -> 4 at 8 x 48, 4 -> 3 at 8 x 32) and
// the loads per FMA. A sub-tile holds whichever of its inputs (C) or broadcasts (FBc) are fewer and
// streams the others, so 12 accumulators + the held set + 1 fit 16 registers. Partial tiles use masked
// loads (masked-off lanes read as zero and never fault) on only the vectors that hold valid lanes;
// sub-tiles wholly past `valid` do nothing. With ColTileArgs::out set, the tile then applies the
// epilogue to acc (still in L1) and stores to the output itself.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "hilsim/kernels/sparse_conv.h"
#include "vec_math_avx2.h"

namespace hilsim::kernels {
// Internal linkage: the avx512 file has templates of the same shape, and identically named inline
// instantiations from two ISAs would be merged by the linker.
namespace {

using x86::tail_mask_avx2;

// AVX2 has no lane compress: per 8-bit lane mask, the source lane of each packed lane (3 bits each),
// for one permute, and from bit 24 the count of set lanes (without -mpopcnt a popcount is a call).
constexpr std::array<uint32_t, 256> kCompress = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t m = 0; m < 256; ++m) {
    uint32_t packed = 0, n = 0;
    for (uint32_t l = 0; l < 8; ++l)
      if (m & (1u << l)) packed |= l << (3 * n++);
    t[m] = packed | n << 24;
  }
  return t;
}();

// The fused epilogue (ColTileArgs::out), once the tile's sub-tiles have left it in acc (L1): a vector
// whose lanes are all output pixels is one store; one holding a row end (the plane's padding columns)
// or the plane's end keeps its output lanes by a permute and a masked store of that many. The
// activation is a template argument: switching per vector on the epilogue (which every float store
// may alias, so it was reloaded each time) cost a ReLU a third as much as a 64 -> 32 1x1 layer's FMAs.
// (Storing from the sub-tiles' registers instead put acc's address in reach of the out-of-line store,
// and GCC then kept every accumulator in memory, one store per FMA.)
template <int FB, int T, Act kAct>
void store_rows(const ColTileArgs& a, Epilogue ep) {
  ep.act = kAct;
  constexpr int V = T / 8;
  uint32_t m[V], n[V];
  int64_t at[V];
  for (int v = 0; v < V; ++v) {
    const uint32_t m16 = a.lane_mask[v / 2], lo = m16 & 0xFFu;
    m[v] = v % 2 ? m16 >> 8 : lo;
    n[v] = kCompress[m[v]] >> 24;
    at[v] = a.out_at[v / 2] + (v % 2 ? kCompress[lo] >> 24 : 0);
  }
  // A packed partial vector may be stored whole when the next vector's store (in this tile, later)
  // covers the lanes past its own: masked stores are slow here (a third of a 64 -> 32 1x1 layer's
  // time when every vector took one), and only the tile's last vector or a run of short rows needs one.
  bool whole[V];
  for (int v = 0; v < V; ++v) whole[v] = n[v] == 8 || (n[v] && v + 1 < V && n[v] + n[v + 1] >= 8);
  const int64_t nf = std::min<int64_t>(FB, a.nf);
  for (int64_t f = 0; f < nf; ++f) {
    const float* acc = a.acc + f * T;
    float* o = a.out + f * a.out_stride;
    for (int v = 0; v < V; ++v) {
      const __m256 y = x86::act_avx2(ep, _mm256_loadu_ps(acc + 8 * v));
      if (m[v] == 0xFFu) {
        _mm256_storeu_ps(o + at[v], y);
      } else if (m[v]) {
        const __m256i perm = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(kCompress[m[v]])),
                                               _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21));
        const __m256 packed = _mm256_permutevar8x32_ps(y, perm);
        if (whole[v])
          _mm256_storeu_ps(o + at[v], packed);
        else
          _mm256_maskstore_ps(o + at[v], tail_mask_avx2(n[v]), packed);
      }
    }
  }
}

template <int FB, int T>
void store_out(const ColTileArgs& a) {
  const Epilogue& ep = *a.ep;
  switch (ep.act) {
    case Act::kNone: return store_rows<FB, T, Act::kNone>(a, ep);
    case Act::kRelu: return store_rows<FB, T, Act::kRelu>(a, ep);
    case Act::kClip: return store_rows<FB, T, Act::kClip>(a, ep);
    case Act::kSigmoid: return store_rows<FB, T, Act::kSigmoid>(a, ep);
    case Act::kSiLU: return store_rows<FB, T, Act::kSiLU>(a, ep);
    case Act::kHardSwish: return store_rows<FB, T, Act::kHardSwish>(a, ep);
    case Act::kHardSigmoid: return store_rows<FB, T, Act::kHardSigmoid>(a, ep);
  }
}

// Accumulates the row's columns into the sub-tile's registers.
template <int FBc, int C, bool kMasked>
inline void run_cols(const ColTileArgs& a, int f0, int64_t q, __m256 (&acc)[FBc][C], const __m256i (&m)[C]) {
  const float* base = a.base + q;
  const float* w = a.vals + f0;
  const int32_t* off = a.off;
  const int64_t vstride = a.vstride, ncols = a.ncols;
  for (int64_t j = 0; j < ncols; ++j, w += vstride) {
    const float* src = base + off[j];
    if constexpr (C <= FBc) {
      __m256 x[C];
#pragma GCC unroll 8
      for (int v = 0; v < C; ++v) x[v] = kMasked ? _mm256_maskload_ps(src + 8 * v, m[v]) : _mm256_loadu_ps(src + 8 * v);
#pragma GCC unroll 8
      for (int f = 0; f < FBc; ++f) {
        const __m256 wf = _mm256_broadcast_ss(w + f);
#pragma GCC unroll 8
        for (int v = 0; v < C; ++v) acc[f][v] = _mm256_fmadd_ps(wf, x[v], acc[f][v]);
      }
    } else {
      __m256 wf[FBc];
#pragma GCC unroll 8
      for (int f = 0; f < FBc; ++f) wf[f] = _mm256_broadcast_ss(w + f);
#pragma GCC unroll 8
      for (int v = 0; v < C; ++v) {
        const __m256 x = kMasked ? _mm256_maskload_ps(src + 8 * v, m[v]) : _mm256_loadu_ps(src + 8 * v);
#pragma GCC unroll 8
        for (int f = 0; f < FBc; ++f) acc[f][v] = _mm256_fmadd_ps(wf[f], x, acc[f][v]);
      }
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
  if (left >= 8 * C) {
    __m256i m[C];
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) m[v] = _mm256_set1_epi32(-1);
    run_cols<FBc, C, false>(a, f0, q, acc, m);
  } else if (left > 0) {
    __m256i m[C];
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) m[v] = tail_mask_avx2(static_cast<ptrdiff_t>(left - 8 * v));
    run_cols<FBc, C, true>(a, f0, q, acc, m);
  }
#pragma GCC unroll 8
  for (int f = 0; f < FBc; ++f)
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) _mm256_storeu_ps(a.acc + (f0 + f) * T + q + 8 * v, acc[f][v]);
}

// The sub-tile at q when fewer than 8C of its pixels are valid (an in-place tile cut short by the plane's
// end): only as many vectors as hold valid pixels. A 100-pixel 1x1 plane in 32-pixel tiles otherwise
// computed 128 lanes (112 with the 2-vector sub-tiles of before).
template <int T, int FBc, int C>
void sub_tile_tail(const ColTileArgs& a, int f0, int64_t q) {
  if constexpr (C > 1) {
    if (a.valid - q <= 8 * (C - 1)) {
      sub_tile_tail<T, FBc, C - 1>(a, f0, q);
      return;
    }
  }
  sub_tile<T, FBc, C>(a, f0, q);
}

// An FB x T tile as sub-tiles of C vectors and, down the filters, FBs... filters each.
template <int T, int C, int... FBs>
void tile_avx2(const ColTileArgs& a) {
  static_assert(T % (8 * C) == 0, "sub-tiles must cover the tile's pixels");
  int f0 = 0;
  (
      [&] {
        for (int64_t q = 0; q < T; q += 8 * C) {
          if (a.valid - q >= 8 * C)
            sub_tile<T, FBs, C>(a, f0, q);
          else if (a.valid > q)
            sub_tile_tail<T, FBs, C>(a, f0, q);
        }
        f0 += FBs;
      }(),
      ...);
  if (a.out) store_out<(FBs + ...), T>(a);
}

}  // namespace

ColTileFn col_tile_avx2(int fb, int width) {
  // In kColTileShapes' order: <tile width, vectors per sub-tile, the sub-tiles' filter counts>.
  static constexpr ColTileFn kTiles[] = {
      &tile_avx2<128, 8, 1>, &tile_avx2<64, 8, 1>, &tile_avx2<32, 4, 1>, &tile_avx2<16, 2, 1>,
      &tile_avx2<64, 4, 2>,  &tile_avx2<32, 4, 2>, &tile_avx2<16, 2, 2>, &tile_avx2<64, 2, 4>,
      &tile_avx2<32, 2, 4>,  &tile_avx2<16, 2, 4>, &tile_avx2<48, 3, 4, 4>, &tile_avx2<32, 4, 3, 3, 2>,
      &tile_avx2<16, 2, 6, 6, 4>};
  static_assert(sizeof kTiles / sizeof kTiles[0] == kColTileCount);
  const int i = col_tile_index(fb, width);
  return i < 0 ? nullptr : kTiles[i];
}

}  // namespace hilsim::kernels
