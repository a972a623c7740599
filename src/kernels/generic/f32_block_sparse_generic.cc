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
  // Widths: sparse_tiling's (col_tile_width, 128 / 48 on large planes, 32 / 16 on small ones).
  switch (fb * 1000 + width) {
    case 1128: return &generic_tile<1, 128>;
    case 1064: return &generic_tile<1, 64>;
    case 1032: return &generic_tile<1, 32>;
    case 1016: return &generic_tile<1, 16>;
    case 2064: return &generic_tile<2, 64>;
    case 2032: return &generic_tile<2, 32>;
    case 2016: return &generic_tile<2, 16>;
    case 4064: return &generic_tile<4, 64>;
    case 4032: return &generic_tile<4, 32>;
    case 4016: return &generic_tile<4, 16>;
    case 8048: return &generic_tile<8, 48>;
    case 8032: return &generic_tile<8, 32>;
    case 16016: return &generic_tile<16, 16>;
    default: return nullptr;
  }
}

}  // namespace hilsim::kernels
