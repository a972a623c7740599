// Depthwise row kernels: 16 outputs per vector, all K x K taps held in registers (broadcast once per row).
// Stride 2 loads 32 consecutive inputs and keeps the even lanes with one permute.
// GCC 12 flags its own _mm512_undefined_ps() inside the intrinsics headers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "hilsim/kernels/depthwise_conv.h"
#include "vec_math_avx512.h"

namespace hilsim::kernels {

namespace {

template <int K, int S>
void dw_row(const DwRowArgs& a) {
  __m512 w[K * K];
  for (int i = 0; i < K * K; ++i) w[i] = _mm512_set1_ps(a.w[i]);
  const __m512 bias = _mm512_set1_ps(a.bias);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const bool act = a.ep->act != Act::kNone;
  for (size_t o = 0; o < a.ow_count; o += 16) {
    const size_t n = a.ow_count - o;
    __m512 acc = bias;
#pragma GCC unroll 5
    for (int ky = 0; ky < K; ++ky) {
      const float* src = a.in + ky * a.pw + o * S;
#pragma GCC unroll 5
      for (int kx = 0; kx < K; ++kx) {
        __m512 v;
        if constexpr (S == 1) {
          v = _mm512_loadu_ps(src + kx);
        } else {
          v = _mm512_permutex2var_ps(_mm512_loadu_ps(src + kx), even, _mm512_loadu_ps(src + kx + 16));
        }
        acc = _mm512_fmadd_ps(w[ky * K + kx], v, acc);
      }
    }
    if (act) acc = x86::act_avx512(*a.ep, acc);
    _mm512_mask_storeu_ps(a.out + o, x86::tail_mask(n), acc);
  }
}

}  // namespace

void f32_dwconv_3x3s1_row_avx512(const DwRowArgs& a) { dw_row<3, 1>(a); }
void f32_dwconv_3x3s2_row_avx512(const DwRowArgs& a) { dw_row<3, 2>(a); }
void f32_dwconv_5x5s1_row_avx512(const DwRowArgs& a) { dw_row<5, 1>(a); }
void f32_dwconv_5x5s2_row_avx512(const DwRowArgs& a) { dw_row<5, 2>(a); }

}  // namespace hilsim::kernels
