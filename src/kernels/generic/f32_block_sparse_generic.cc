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
  if (fb == 1 && width == 128) return &generic_tile<1, 128>;
  if (fb == 8 && width == 48) return &generic_tile<8, 48>;
  if (width != col_tile_width(fb)) return nullptr;
  switch (fb) {
    case 1: return &generic_tile<1, 64>;
    case 2: return &generic_tile<2, 64>;
    case 4: return &generic_tile<4, 64>;
    case 8: return &generic_tile<8, 32>;
    case 16: return &generic_tile<16, 16>;
    default: return nullptr;
  }
}

}  // namespace hilsim::kernels
