// f32 GEMM micro-kernel, 8 rows x 32 columns (two zmm per row) by broadcast-FMA: 16 accumulators +
// 2 B vectors; A is broadcast straight from memory ({1to16} operands), so a k step is 2 loads + 16 FMAs.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/gemm.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

using x86::act_avx512;
using x86::tail_mask;

void f32_gemm_8x32_avx512(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                          bool accumulate, bool last, const UkernelEpilogue& ep) {
  const __mmask16 m0 = tail_mask(nr);
  const __mmask16 m1 = nr > 16 ? tail_mask(nr - 16) : __mmask16(0);
  __m512 acc[8][2];
  if (accumulate) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (static_cast<size_t>(i) < mr) {
        acc[i][0] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
        acc[i][1] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
      } else {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
      }
    }
  } else {
    __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
    if (ep.bias_col) {
      c0 = _mm512_maskz_loadu_ps(m0, ep.bias_col);
      c1 = _mm512_maskz_loadu_ps(m1, ep.bias_col + 16);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      __m512 r = (ep.bias_row && static_cast<size_t>(i) < mr) ? _mm512_set1_ps(ep.bias_row[i]) : _mm512_setzero_ps();
      acc[i][0] = _mm512_add_ps(c0, r);
      acc[i][1] = _mm512_add_ps(c1, r);
    }
  }
  for (size_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += 8;
    b += 32;
  }
  if (last && ep.act.act != Act::kNone) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      acc[i][0] = act_avx512(ep.act, acc[i][0]);
      acc[i][1] = act_avx512(ep.act, acc[i][1]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    if (static_cast<size_t>(i) < mr) {
      _mm512_mask_storeu_ps(c + i * ldc, m0, acc[i][0]);
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc[i][1]);
    }
  }
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
