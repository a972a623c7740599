// AVX2 depthwise row kernels: 8 outputs per vector, 16 per step in two independent chains (one chain
// of K * K dependent FMAs would leave the FMA units idle for most of its 5-cycle latency). The K x K
// taps are broadcast once per row; 5x5 keeps them in memory (25 taps exceed the 16 registers) and the
// FMAs take them as memory operands. Stride 2 loads 16 consecutive inputs and gathers the even lanes
// with one in-lane shuffle plus one cross-lane permute.
#include <immintrin.h>

#include "hilsim/kernels/depthwise_conv.h"
#include "vec_math_avx2.h"

namespace hilsim::kernels {

namespace {

template <int S>
inline __m256 load_taps(const float* p) {
  if constexpr (S == 1) {
    return _mm256_loadu_ps(p);
  } else {
    const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    // [l0 l2 h0 h2 | l4 l6 h4 h6] -> [l0 l2 l4 l6 h0 h2 h4 h6]
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  }
}

template <int K, int S>
inline __m256 window(const DwRowArgs& a, const __m256 (&w)[K * K], __m256 acc, const float* in) {
#pragma GCC unroll 5
  for (int ky = 0; ky < K; ++ky) {
    const float* src = in + ky * a.pw;
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx) acc = _mm256_fmadd_ps(w[ky * K + kx], load_taps<S>(src + kx), acc);
  }
  return acc;
}

template <int K, int S>
void one_row(const DwRowArgs& a) {
  __m256 w[K * K];
  for (int i = 0; i < K * K; ++i) w[i] = _mm256_set1_ps(a.w[i]);
  const __m256 bias = _mm256_set1_ps(a.bias);
  const bool act = a.ep->act != Act::kNone;
  size_t o = 0;
  for (; o + 16 <= a.ow_count; o += 16) {
    __m256 acc0 = window<K, S>(a, w, bias, a.in + o * S);
    __m256 acc1 = window<K, S>(a, w, bias, a.in + (o + 8) * S);
    if (act) acc0 = x86::act_avx2(*a.ep, acc0), acc1 = x86::act_avx2(*a.ep, acc1);
    _mm256_storeu_ps(a.out + o, acc0);
    _mm256_storeu_ps(a.out + o + 8, acc1);
  }
  // Loads past the row stay inside the padded plane's over-read slack; only the stores are masked.
  for (; o < a.ow_count; o += 8) {
    __m256 acc = window<K, S>(a, w, bias, a.in + o * S);
    if (act) acc = x86::act_avx2(*a.ep, acc);
    const ptrdiff_t n = static_cast<ptrdiff_t>(a.ow_count - o);
    if (n >= 8) {
      _mm256_storeu_ps(a.out + o, acc);
    } else {
      _mm256_maskstore_ps(a.out + o, x86::tail_mask_avx2(n), acc);
    }
  }
}

// Sixteen ymm registers hold the 3x3 taps and two accumulators but not a second row's: rows one at a time.
template <int K, int S>
void dw_row(const DwRowArgs& a) {
  DwRowArgs r = a;
  for (size_t i = 0; i < a.rows; ++i, r.in += a.in_step, r.out += a.out_step) one_row<K, S>(r);
}

}  // namespace

void f32_dwconv_3x3s1_row_avx2(const DwRowArgs& a) { dw_row<3, 1>(a); }
void f32_dwconv_3x3s2_row_avx2(const DwRowArgs& a) { dw_row<3, 2>(a); }
void f32_dwconv_5x5s1_row_avx2(const DwRowArgs& a) { dw_row<5, 1>(a); }
void f32_dwconv_5x5s2_row_avx2(const DwRowArgs& a) { dw_row<5, 2>(a); }

}  // namespace hilsim::kernels
