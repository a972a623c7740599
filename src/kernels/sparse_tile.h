// The sparse micro-kernel, written once and compiled per ISA (the _avx512 translation unit gets the
// AVX-512 flags): an FB x T block of accumulators that the compiler keeps in vector registers.
#pragma once

#include <cstring>

#include "hilsim/kernels/sparse_conv.h"

namespace hilsim::kernels::detail {
// Internal linkage on purpose: each ISA's translation unit must keep its own instantiation (shared
// template symbols would let the linker pick one ISA's code for all).
namespace {

template <int FB, int T>
void sparse_tile(const SparseTileArgs& a) {
  float acc[FB][T];
  for (int f = 0; f < FB; ++f)
    for (int t = 0; t < T; ++t) acc[f][t] = a.bias[f];
  const float* base = a.base + a.so;
  for (int64_t j = 0; j < a.ncols; ++j) {
    const float* __restrict src = base + a.off[j];
    const float* __restrict v = a.vals + j * FB;
    // The next tile reads the T floats after these: fetch them while this one computes (the kept
    // columns are many short streams the hardware prefetcher does not follow).
    __builtin_prefetch(src + T);
    if constexpr (T > 16) __builtin_prefetch(src + T + 16);
#pragma GCC unroll 32
    for (int f = 0; f < FB; ++f) {
      const float w = v[f];
#pragma GCC unroll 64
      for (int t = 0; t < T; ++t) acc[f][t] += w * src[t];
    }
  }
  std::memcpy(a.acc, acc, sizeof acc);
}

inline SparseTileFn sparse_tile_for(int fb) {
  switch (fb) {
    case 1: return &sparse_tile<1, 64>;
    case 2: return &sparse_tile<2, 64>;
    case 4: return &sparse_tile<4, 64>;
    case 8: return &sparse_tile<8, 32>;
    case 16: return &sparse_tile<16, 16>;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace hilsim::kernels::detail
