// Depthwise row kernels: 16 outputs per vector, all K x K taps held in registers (broadcast once per call).
// Stride 2 loads 32 consecutive inputs and keeps the even lanes with one permute.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/depthwise_conv.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

namespace {

// R output rows at once: they read (R - 1) * S + K input rows, each input vector is loaded once and fed
// to every row whose window holds it, and the R accumulators are independent FMA chains (one row alone
// waits on the FMA latency K * K times per vector).
template <int K, int S, int R>
void row_block(const DwRowArgs& a, const __m512* w, __m512 bias, const float* in, float* out) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  constexpr int kInRows = (R - 1) * S + K;
  const bool act = a.ep->act != Act::kNone;
  for (size_t o = 0; o < a.ow_count; o += 16) {
    __m512 acc[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[r] = bias;
#pragma GCC unroll 11
    for (int iy = 0; iy < kInRows; ++iy) {
      const float* src = in + iy * a.pw + o * S;
#pragma GCC unroll 5
      for (int kx = 0; kx < K; ++kx) {
        __m512 v;
        if constexpr (S == 1) {
          v = _mm512_loadu_ps(src + kx);
        } else {
          v = _mm512_permutex2var_ps(_mm512_loadu_ps(src + kx), even, _mm512_loadu_ps(src + kx + 16));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int ky = iy - r * S;
          if (ky >= 0 && ky < K) acc[r] = _mm512_fmadd_ps(w[ky * K + kx], v, acc[r]);
        }
      }
    }
    const __mmask16 m = x86::tail_mask(a.ow_count - o);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (act) acc[r] = x86::act_avx512(*a.ep, acc[r]);
      _mm512_mask_storeu_ps(out + r * a.out_step + o, m, acc[r]);
    }
  }
}

template <int K, int S>
void dw_row(const DwRowArgs& a) {
  __m512 w[K * K];
  for (int i = 0; i < K * K; ++i) w[i] = _mm512_set1_ps(a.w[i]);
  const __m512 bias = _mm512_set1_ps(a.bias);
  // Four rows keep 25 taps + 4 accumulators + a load within the 32 zmm registers for 5x5.
  size_t r = 0;
  for (; r + 4 <= a.rows; r += 4) row_block<K, S, 4>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  const size_t left = a.rows - r;
  if (left == 3) row_block<K, S, 3>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 2) row_block<K, S, 2>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
  if (left == 1) row_block<K, S, 1>(a, w, bias, a.in + r * a.in_step, a.out + r * a.out_step);
}

}  // namespace

void f32_dwconv_3x3s1_row_avx512(const DwRowArgs& a) { dw_row<3, 1>(a); }
void f32_dwconv_3x3s2_row_avx512(const DwRowArgs& a) { dw_row<3, 2>(a); }
void f32_dwconv_5x5s1_row_avx512(const DwRowArgs& a) { dw_row<5, 1>(a); }
void f32_dwconv_5x5s2_row_avx512(const DwRowArgs& a) { dw_row<5, 2>(a); }

}  // namespace hilsim::kernels
