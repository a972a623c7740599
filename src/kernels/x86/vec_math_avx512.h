// AVX-512 vector math shared by the *_avx512.cc kernels (include only from files built with -mavx512f).
#pragma once

#include <immintrin.h>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels::x86 {

// d = 1 + e^-x and the 14-bit estimate of 1 / d, the core of sigmoid and SiLU; xl >= -88.3 (callers
// clamp). e^-x = 2^t, t = -x log2(e) = n + f: n rounded by the magic-bias add (exact in round-to-
// nearest), 2^f on |f| <= 1/2 by a degree-4 minimax polynomial (rel. err 2.7e-6, plus ~2e-6 from
// rounding log2(e): far inside the kernels' 1e-4). The clamps keep 2^t finite (x = -88.3 gives 2^127),
// so d, its reciprocal and the Newton step never see inf. SiLU is 15 vector ops, against 20 for the
// degree-6 exp before; in the low-K layers of YOLO-style models the epilogue was a third of the time.
inline __m512 sigmoid_recip_avx512(__m512 xl, __m512* d_out) {
  const __m512 x = _mm512_min_ps(xl, _mm512_set1_ps(88.3f));
  const __m512 magic = _mm512_set1_ps(12582912.0f);  // 1.5 * 2^23: the sum's last bit is the unit
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(-1.44269504088896341f), magic), magic);
  const __m512 f = _mm512_fnmsub_ps(x, _mm512_set1_ps(1.44269504088896341f), n);  // -x log2(e) - n, one rounding
  __m512 p = _mm512_set1_ps(9.570102207e-03f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.591786280e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402474433e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931217909e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.999992847e-01f));
  const __m512 d = _mm512_add_ps(_mm512_scalef_ps(p, n), _mm512_set1_ps(1.0f));
  *d_out = d;
  return _mm512_rcp14_ps(d);
}

// sigmoid(x) and x * sigmoid(x): the estimate r of 1 / d refined by one Newton step r (2 - d r), with
// SiLU's factor x folded into the step's product.
inline __m512 sigmoid_avx512(__m512 x) {
  __m512 d;
  const __m512 r = sigmoid_recip_avx512(_mm512_max_ps(x, _mm512_set1_ps(-88.3f)), &d);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}
inline __m512 silu_avx512(__m512 x) {
  // The low clamp also bounds the factor x: silu(-3e38) is -88.3 * sigmoid(-88.3) ~ -4e-37, not -1.4.
  const __m512 xl = _mm512_max_ps(x, _mm512_set1_ps(-88.3f));
  __m512 d;
  const __m512 r = sigmoid_recip_avx512(xl, &d);
  return _mm512_mul_ps(_mm512_mul_ps(xl, r), _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

// The fused activation, matching apply_act() in conv_desc.cc.
inline __m512 act_avx512(const Epilogue& e, __m512 x) {
  switch (e.act) {
    case Act::kNone: return x;
    case Act::kRelu: return _mm512_max_ps(x, _mm512_setzero_ps());
    case Act::kClip: return _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(e.min)), _mm512_set1_ps(e.max));
    case Act::kSigmoid: return sigmoid_avx512(x);
    case Act::kSiLU: return silu_avx512(x);
    case Act::kHardSwish: {
      __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
      return _mm512_mul_ps(x, _mm512_mul_ps(t, _mm512_set1_ps(1.0f / 6.0f)));  // t / 6 <= 1: no overflow
    }
    case Act::kHardSigmoid: {
      __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(e.alpha), _mm512_set1_ps(e.beta));
      return _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
    }
  }
  return x;
}

// The 8-row x NV-vector broadcast-FMA tile shared by the GEMM and implicit-GEMM micro-kernels: one k
// step (8 broadcasts of a[0..7] against the NV vectors of B), and the activation over the whole tile.
// R rows (R <= 8 of a packed 8-row A panel) x NV column vectors.
template <int NV, int R>
inline void fma_8xnv_avx512(__m512 (&acc)[R][NV], const float* a, const __m512 (&bv)[NV]) {
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
  }
}
template <int NV, int R>
inline void act_8xnv_avx512(const Epilogue& e, __m512 (&acc)[R][NV]) {
  if (e.act == Act::kNone) return;
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = act_avx512(e, acc[i][v]);
  }
}

inline __mmask16 tail_mask(size_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

}  // namespace hilsim::kernels::x86
