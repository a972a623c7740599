// f32 GEMM micro-kernel, 8 rows x 32 columns (two zmm per row) by broadcast-FMA: 16 accumulators +
// 2 B vectors (a strip tail of <= 16 columns runs on one); A is broadcast straight from memory
// ({1to16} operands), so a k step is 2 loads + 16 FMAs.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/gemm.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

using x86::act_avx512;
using x86::tail_mask;

namespace {

// R rows (gemm_tile_rows_computed: 2, 4 or 8) x NV column vectors (NV = 2: the full 32-column tile;
// NV = 1: a strip's tail of <= 16 columns, which would otherwise spend FMAs on the panel's zero
// padding: a 14x14 map computed 224 columns for 196, now 208; a 10x10 map 128 for 100, now 112).
template <int R, int NV>
inline void gemm_rxnv(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                      bool accumulate, bool last, const UkernelEpilogue& ep) {
  __mmask16 m[2];
  m[0] = tail_mask(nr);
  m[1] = nr > 16 ? tail_mask(nr - 16) : __mmask16(0);
  __m512 acc[R][NV];
  if (accumulate) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        acc[i][v] = static_cast<size_t>(i) < mr ? _mm512_maskz_loadu_ps(m[v], c + i * ldc + 16 * v) : _mm512_setzero_ps();
    }
  } else {
    __m512 cb[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) cb[v] = ep.bias_col ? _mm512_maskz_loadu_ps(m[v], ep.bias_col + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m512 r = (ep.bias_row && static_cast<size_t>(i) < mr) ? _mm512_set1_ps(ep.bias_row[i]) : _mm512_setzero_ps();
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_add_ps(cb[v], r);
    }
  }
  for (size_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    x86::fma_8xnv_avx512<NV>(acc, a, bv);
    a += 8;
    b += 32;  // the panel keeps its 32-column stride whatever nr is
  }
  if (last) x86::act_8xnv_avx512<NV>(ep.act, acc);
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    if (static_cast<size_t>(i) < mr) {
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + i * ldc + 16 * v, m[v], acc[i][v]);
    }
  }
}

}  // namespace

void f32_gemm_8x32_avx512(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                          bool accumulate, bool last, const UkernelEpilogue& ep) {
  static_assert(gemm_tile_rows_computed(2) == 2 && gemm_tile_rows_computed(4) == 4);
  if (mr <= 2) {
    if (nr <= 16) return gemm_rxnv<2, 1>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
    return gemm_rxnv<2, 2>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
  }
  if (mr <= 4) {
    if (nr <= 16) return gemm_rxnv<4, 1>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
    return gemm_rxnv<4, 2>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
  }
  if (nr <= 16) return gemm_rxnv<8, 1>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
  gemm_rxnv<8, 2>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep);
}

void f32_act_avx512(const Epilogue& e, float* x, int64_t n) {
  if (e.act == Act::kNone) return;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, act_avx512(e, _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(static_cast<size_t>(n - i));
    _mm512_mask_storeu_ps(x + i, m, act_avx512(e, _mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace hilsim::kernels
