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

// Channel lanes in plain loops: the lane loops vectorise; the transposes stay scalar.
template <int K, int S>
void lanes(const DwLanesArgs& a) {
  constexpr int L = kDwChannelLanes;
  const size_t hw = a.h * a.w_in, ohw = a.oh * a.ow;
  // Transpose in: lane c of tile pixel (y, x) is plane c's pixel; lanes past `channels` keep whatever
  // an earlier group left (finite), and their outputs are never written back.
  for (size_t c = 0; c < a.channels; ++c) {
    const float* src = a.in + c * hw;
    for (size_t y = 0; y < a.h; ++y) {
      float* dst = a.tile + ((y + a.pad_top) * a.pw + a.pad_left) * L + c;
      for (size_t x = 0; x < a.w_in; ++x) dst[x * L] = src[y * a.w_in + x];
    }
  }
  for (size_t oy = 0; oy < a.oh; ++oy) {
    for (size_t ox = 0; ox < a.ow; ++ox) {
      float acc[L];
      for (int l = 0; l < L; ++l) acc[l] = a.bias[l];
      // Only the taps on the map, as the vector kernels (dw_tap_range): the border is zero.
      const DwTapRange rows = dw_tap_range(static_cast<int64_t>(oy), S, K, static_cast<int64_t>(a.pad_top),
                                           static_cast<int64_t>(a.h));
      const DwTapRange cols = dw_tap_range(static_cast<int64_t>(ox), S, K, static_cast<int64_t>(a.pad_left),
                                           static_cast<int64_t>(a.w_in));
      for (int ky = rows.lo; ky < rows.hi; ++ky) {
        const float* row = a.tile + ((oy * S + ky) * a.pw + ox * S) * L;
        for (int kx = cols.lo; kx < cols.hi; ++kx) {
          const float* wv = a.w + (ky * K + kx) * L;
          for (int l = 0; l < L; ++l) acc[l] += wv[l] * row[kx * L + l];
        }
      }
      const size_t q = oy * a.ow + ox;
      for (size_t c = 0; c < a.channels; ++c) a.out[c * ohw + q] = acc[c];
    }
  }
  if (a.ep->act != Act::kNone)
    for (size_t c = 0; c < a.channels; ++c) apply_act_inplace(*a.ep, a.out + c * ohw, static_cast<int64_t>(ohw));
}

void lanes_any(const DwLanesArgs& a) {
  if (a.k == 3) return a.stride == 1 ? lanes<3, 1>(a) : lanes<3, 2>(a);
  if (a.k == 7) return a.stride == 1 ? lanes<7, 1>(a) : lanes<7, 2>(a);
  return a.stride == 1 ? lanes<5, 1>(a) : lanes<5, 2>(a);
}

}  // namespace

void f32_dwconv_row_generic(const DwRowArgs& a) { for_each_dw_row(a, one_row); }

void f32_dwconv_lanes_generic(const DwLanesArgs& a) { lanes_any(a); }

}  // namespace hilsim::kernels
