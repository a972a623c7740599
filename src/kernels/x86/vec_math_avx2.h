// AVX2 + FMA vector math shared by the *_avx2.cc kernels (include only from files built with -mavx2 -mfma).
// Same algorithms and constants as vec_math_avx512.h, rebuilt from the instructions AVX2 has.
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels::x86 {

// d = 1 + e^-x and the 12-bit estimate of 1 / d, as sigmoid_recip_avx512 (same constants and error),
// except that 2^n is built from exponent bits: the magic bias carries the exponent bias 127, so the
// sum's low bits are n + 127 and one shift makes 2^n (n = -127 gives 0, harmless next to the 1).
// 15 vector ops for SiLU against ~28 of the exp (two-factor 2^n) + reciprocal before.
inline __m256 sigmoid_recip_avx2(__m256 xl, __m256* d_out) {
  const __m256 x = _mm256_min_ps(xl, _mm256_set1_ps(88.3f));
  const __m256 magic = _mm256_set1_ps(12583039.0f);  // 1.5 * 2^23 + 127
  const __m256 nb = _mm256_fmadd_ps(x, _mm256_set1_ps(-1.44269504088896341f), magic);
  const __m256 n = _mm256_sub_ps(nb, magic);
  const __m256 f = _mm256_fnmsub_ps(x, _mm256_set1_ps(1.44269504088896341f), n);  // -x log2(e) - n
  const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(nb), 23));
  __m256 p = _mm256_set1_ps(9.570102207e-03f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.591786280e-02f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402474433e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931217909e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.999992847e-01f));
  const __m256 d = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.0f));
  *d_out = d;
  return _mm256_rcp_ps(d);
}

// sigmoid(x) and x * sigmoid(x): one Newton step r (2 - d r) on the estimate, SiLU's x folded in.
inline __m256 sigmoid_avx2(__m256 x) {
  __m256 d;
  const __m256 r = sigmoid_recip_avx2(_mm256_max_ps(x, _mm256_set1_ps(-88.3f)), &d);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
}
inline __m256 silu_avx2(__m256 x) {
  // The low clamp also bounds the factor x: silu(-3e38) is -88.3 * sigmoid(-88.3) ~ -4e-37, not -1.4.
  const __m256 xl = _mm256_max_ps(x, _mm256_set1_ps(-88.3f));
  __m256 d;
  const __m256 r = sigmoid_recip_avx2(xl, &d);
  return _mm256_mul_ps(_mm256_mul_ps(xl, r), _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
}

// The fused activation, matching apply_act() in conv_desc.cc.
// Always inlined: as a call, every vector's accumulator goes through memory and the switch runs per
// vector; GCC stopped inlining it in f32_dwconv_avx2.cc once that file's row kernels grew (its lanes
// kernel ran 12-15% slower).
__attribute__((always_inline)) inline __m256 act_avx2(const Epilogue& e, __m256 x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return _mm256_max_ps(x, _mm256_setzero_ps());
    case Act::kClip: return _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(e.min)), _mm256_set1_ps(e.max));
    case Act::kSigmoid: return sigmoid_avx2(x);
    case Act::kSiLU: return silu_avx2(x);
    case Act::kHardSwish: {
      __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
      return _mm256_mul_ps(x, _mm256_mul_ps(t, _mm256_set1_ps(1.0f / 6.0f)));  // t / 6 <= 1: no overflow
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
