// AVX2 + FMA vector math shared by the *_avx2.cc kernels (include only from files built with -mavx2 -mfma).
// Same algorithms and constants as vec_math_avx512.h, rebuilt from the instructions AVX2 has.
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels::x86 {

// exp(x) by range reduction x = n ln2 + r and a degree-6 polynomial on |r| <= ln2/2 (rel. err ~2e-7).
// AVX2 has no scalef, so 2^n is built from exponent bits; it is applied as two factors 2^(n/2) and
// 2^(n - n/2) because n spans [-126, 128] after the clamp and 2^128 (or the denormal result near
// n = -126) does not fit one normal float, while p * 2^h * 2^(n-h) rounds exactly like scalef.
inline __m256 exp_avx2(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-87.3365447505531f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s0), s1);
}

// 1 / x from the 12-bit estimate plus one Newton step (~1e-7 rel.): a ymm divide is several times the
// cost of the whole rest of the SiLU epilogue on Zen and Skylake.
inline __m256 rcp_avx2(__m256 x) {
  const __m256 r = _mm256_rcp_ps(x);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(x, r, _mm256_set1_ps(2.0f)));
}

// The fused activation, matching apply_act() in conv_desc.cc.
inline __m256 act_avx2(const Epilogue& e, __m256 x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return _mm256_max_ps(x, _mm256_setzero_ps());
    case Act::kClip: return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(e.min)), _mm256_set1_ps(e.max));
    case Act::kSigmoid:
      return rcp_avx2(_mm256_add_ps(_mm256_set1_ps(1.0f), exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    case Act::kSiLU:
      return _mm256_mul_ps(x, rcp_avx2(_mm256_add_ps(_mm256_set1_ps(1.0f), exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x)))));
    case Act::kHardSwish: {
      __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
      return _mm256_mul_ps(_mm256_mul_ps(x, t), _mm256_set1_ps(1.0f / 6.0f));
    }
    case Act::kHardSigmoid: {
      __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(e.alpha), _mm256_set1_ps(e.beta));
      return _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
    }
  }
  return x;
}

// Lane mask for _mm256_maskload_ps / _mm256_maskstore_ps: lanes [0, n) set (n may be <= 0 or >= 8).
inline __m256i tail_mask_avx2(ptrdiff_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 0 ? 0 : n > 8 ? 8 : n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace hilsim::kernels::x86
