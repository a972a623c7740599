// Portable kept-column micro-kernels: plain loops over a fixed FB x T tile that the compiler can
// vectorise (NEON, SSE). Same contract and tile widths as the AVX2 / AVX-512 kernels.
#include <algorithm>
#include <cstring>

#include "hilsim/kernels/sparse_conv.h"

namespace hilsim::kernels {
namespace {

template <int FB, int T>
void generic_tile(const ColTileArgs& a) {
  float acc[FB][T];
  for (int f = 0; f < FB; ++f)
    for (int t = 0; t < T; ++t) acc[f][t] = a.init ? a.init[f * T + t] : a.bias[f];
  if (a.valid >= T) {
    for (int64_t j = 0; j < a.ncols; ++j) {
      const float* __restrict src = a.base + a.off[j];
      const float* __restrict v = a.vals + j * a.vstride;
      for (int f = 0; f < FB; ++f) {
        const float w = v[f];
        for (int t = 0; t < T; ++t) acc[f][t] += w * src[t];
      }
    }
  } else {
    const int n = static_cast<int>(std::max<int64_t>(a.valid, 0));
    for (int64_t j = 0; j < a.ncols; ++j) {
      const float* src = a.base + a.off[j];
      const float* v = a.vals + j * a.vstride;
      for (int f = 0; f < FB; ++f)
        for (int t = 0; t < n; ++t) acc[f][t] += v[f] * src[t];
    }
  }
  std::memcpy(a.acc, acc, sizeof acc);
}

}  // namespace


ColTileFn col_tile_generic(int fb, int width) {
  // In kColTileShapes' order.
  static constexpr ColTileFn kTiles[] = {&generic_tile<1, 128>, &generic_tile<1, 64>, &generic_tile<1, 32>,
                                         &generic_tile<1, 16>,  &generic_tile<2, 64>, &generic_tile<2, 32>,
                                         &generic_tile<2, 16>,  &generic_tile<4, 64>, &generic_tile<4, 32>,
                                         &generic_tile<4, 16>,  &generic_tile<8, 48>, &generic_tile<8, 32>,
                                         &generic_tile<16, 16>};
  static_assert(sizeof kTiles / sizeof kTiles[0] == kColTileCount);
  const int i = col_tile_index(fb, width);
  return i < 0 ? nullptr : kTiles[i];
}

}  // namespace hilsim::kernels
