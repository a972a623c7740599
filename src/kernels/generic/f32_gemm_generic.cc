// Portable micro-kernels: plain loops over a fixed tile that the compiler can vectorise (NEON, SSE).
// Same tile and packing as the AVX-512 kernel so every ISA shares one packed format.
#include <cstring>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

namespace {

// R rows (gemm_tile_rows_computed) of the 8-row packed panel, like the vector kernels.
template <int R>
void gemm_rows(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc, bool accumulate,
               bool last, const UkernelEpilogue& ep) {
  constexpr int MR = 8, NR = 32;
  float acc[R][NR];
  for (int i = 0; i < R; ++i) {
    const bool row = static_cast<size_t>(i) < mr;
    for (int j = 0; j < NR; ++j) {
      const bool col = static_cast<size_t>(j) < nr;
      float v = 0.0f;
      if (accumulate) {
        if (row && col) v = c[i * ldc + j];
      } else {
        if (ep.bias_row && row) v += ep.bias_row[i];
        if (ep.bias_col && col) v += ep.bias_col[j];
      }
      acc[i][j] = v;
    }
  }
  for (size_t k = 0; k < kc; ++k) {
    for (int i = 0; i < R; ++i) {
      const float ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  for (size_t i = 0; i < mr; ++i) {
    if (last && ep.act.act != Act::kNone) apply_act_inplace(ep.act, acc[i], static_cast<int64_t>(nr));
    std::memcpy(c + i * ldc, acc[i], nr * sizeof(float));
  }
}

}  // namespace

void f32_gemm_8x32_generic(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                           bool accumulate, bool last, const UkernelEpilogue& ep) {
  switch (gemm_tile_rows_computed(static_cast<int64_t>(mr))) {
    case 2: return gemm_rows<2>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
    case 4: return gemm_rows<4>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
    default: return gemm_rows<8>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
  }
}

void f32_act_generic(const Epilogue& e, float* x, int64_t n) {
  apply_act_inplace(e, x, n);
}

}  // namespace hilsim::kernels
