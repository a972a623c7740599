// Implicit-GEMM 3x3 stride-1 conv tile, 8 filters x 32 pixels of one output row: the GEMM micro-kernel's
// broadcast-FMA loop (f32_gemm_avx512.cc) with B read from the input rows themselves. Along an output
// row, tap (c, ky, kx) of 32 consecutive pixels is 32 consecutive inputs, so the im2col panel (20% of the
// c32 80x80 layer) is only a copy. The input comes zero-padded (one copy per conv instead of nine per
// strip), so every load is a plain one: masked loads at the row ends cost a second uop on the FMA ports
// and made edge strips slower than the packed panel.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/gemm.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

namespace {

template <int NV>
void conv3x3_rows(const Conv3x3RowTile& t, const UkernelEpilogue& ep) {
  __m512 acc[8][NV];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    const __m512 r = (ep.bias_row && static_cast<size_t>(i) < t.mr) ? _mm512_set1_ps(ep.bias_row[i]) : _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = r;
  }
  const float* a = t.a;
  for (int64_t c = 0; c < t.c; ++c) {
    for (int64_t ky = 0; ky < 3; ++ky) {
      const float* row = t.in + (c * t.h + t.oy + ky) * t.w + t.ox0;
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx) {
        __m512 bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(row + kx + 16 * v);
        x86::fma_8xnv_avx512<NV>(acc, a, bv);
        a += 8;
      }
    }
  }
  x86::act_8xnv_avx512<NV>(ep.act, acc);
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (static_cast<size_t>(i) < t.mr) {
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(t.out + i * t.ldc + 16 * v, acc[i][v]);
    }
  }
}

}  // namespace

void f32_conv3x3_rows_8x32_avx512(const Conv3x3RowTile& t, const UkernelEpilogue& ep) {
  if (t.nr == 16) return conv3x3_rows<1>(t, ep);
  conv3x3_rows<2>(t, ep);
}

}  // namespace hilsim::kernels
