// AVX-512 vector math shared by the *_avx512.cc kernels (include only from files built with -mavx512f).
#pragma once

#include <immintrin.h>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels::x86 {

// exp(x) by range reduction x = n ln2 + r and a degree-6 polynomial on |r| <= ln2/2 (rel. err ~2e-7);
// scalef applies 2^n without building the exponent bits by hand.
inline __m512 exp_avx512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-87.3365447505531f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// 1 / x from the 14-bit estimate plus one Newton step (~1e-7 rel.): a zmm divide issues only every
// ~16 cycles, which made the SiLU epilogue a tenth of a small conv tile's time.
inline __m512 rcp_avx512(__m512 x) {
  const __m512 r = _mm512_rcp14_ps(x);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(2.0f)));
}

// The fused activation, matching apply_act() in conv_desc.cc.
inline __m512 act_avx512(const Epilogue& e, __m512 x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return _mm512_max_ps(x, _mm512_setzero_ps());
    case Act::kClip: return _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(e.min)), _mm512_set1_ps(e.max));
    case Act::kSigmoid:
      return rcp_avx512(_mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
    case Act::kSiLU:
      return _mm512_mul_ps(x, rcp_avx512(_mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x)))));
    case Act::kHardSwish: {
      __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
      return _mm512_mul_ps(_mm512_mul_ps(x, t), _mm512_set1_ps(1.0f / 6.0f));
    }
    case Act::kHardSigmoid: {
      __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(e.alpha), _mm512_set1_ps(e.beta));
      return _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
    }
  }
  return x;
}

inline __mmask16 tail_mask(size_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

}  // namespace hilsim::kernels::x86
