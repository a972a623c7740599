#include "hilsim/kernels/depthwise_conv.h"

namespace hilsim::kernels {

namespace {

void one_row(const DwRowArgs& a) {
  for (size_t o = 0; o < a.ow_count; ++o) a.out[o] = a.bias;
  // Tap-outer order: the inner loop is a unit- or fixed-stride axpy the compiler vectorises.
  for (int ky = 0; ky < a.kh; ++ky) {
    const float* row = a.in + static_cast<size_t>(ky * a.dil_h) * a.pw;
    for (int kx = 0; kx < a.kw; ++kx) {
      const float wv = a.w[ky * a.kw + kx];
      const float* src = row + kx * a.dil_w;
      if (a.stride_w == 1) {
        for (size_t o = 0; o < a.ow_count; ++o) a.out[o] += wv * src[o];
      } else {
        for (size_t o = 0; o < a.ow_count; ++o) a.out[o] += wv * src[o * a.stride_w];
      }
    }
  }
  if (a.ep->act != Act::kNone)
    for (size_t o = 0; o < a.ow_count; ++o) a.out[o] = apply_act(*a.ep, a.out[o]);
}

}  // namespace

void f32_dwconv_row_generic(const DwRowArgs& a) {
  DwRowArgs r = a;
  for (size_t i = 0; i < a.rows; ++i, r.in += a.in_step, r.out += a.out_step) one_row(r);
}

}  // namespace hilsim::kernels
