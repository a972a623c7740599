#include <algorithm>
#include <cstring>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

void f32_im2col_generic(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                        float* dst, int64_t nr_tile) {
  const int64_t oh_w = s.out_w();
  const int64_t H = s.h, W = s.w, khw = s.kh * s.kw;
  const bool plain_1x1 = khw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
                         s.pad_bottom == 0 && s.pad_right == 0;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk;
    float* d = dst + kk * nr_tile;
    if (plain_1x1) {
      // Output pixel p reads input pixel p: one contiguous row.
      std::memcpy(d, in + k * H * W + p0, static_cast<size_t>(cols) * sizeof(float));
    } else {
      const int64_t c = k / khw, r = k % khw, ky = r / s.kw, kx = r % s.kw;
      const float* plane = in + c * H * W;
      int64_t p = p0, j = 0;
      int64_t oh = p / oh_w, ow = p % oh_w;
      while (j < cols) {
        const int64_t seg = std::min(cols - j, oh_w - ow);
        const int64_t iy = oh * s.stride_h - s.pad_top + ky * s.dil_h;
        float* dj = d + j;
        if (iy < 0 || iy >= H) {
          std::memset(dj, 0, static_cast<size_t>(seg) * sizeof(float));
        } else {
          const float* row = plane + iy * W;
          const int64_t ix0 = ow * s.stride_w - s.pad_left + kx * s.dil_w;
          if (s.stride_w == 1) {
            const int64_t lo = std::clamp<int64_t>(-ix0, 0, seg), hi = std::clamp<int64_t>(W - ix0, lo, seg);
            for (int64_t t = 0; t < lo; ++t) dj[t] = 0.0f;
            std::memcpy(dj + lo, row + ix0 + lo, static_cast<size_t>(hi - lo) * sizeof(float));
            for (int64_t t = hi; t < seg; ++t) dj[t] = 0.0f;
          } else {
            for (int64_t t = 0; t < seg; ++t) {
              const int64_t ix = ix0 + t * s.stride_w;
              dj[t] = (ix >= 0 && ix < W) ? row[ix] : 0.0f;
            }
          }
        }
        j += seg;
        p += seg;
        ow = 0;
        ++oh;
      }
    }
    for (int64_t j = cols; j < nr_tile; ++j) d[j] = 0.0f;
  }
}

}  // namespace hilsim::kernels
