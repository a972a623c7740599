// Portable implicit-GEMM 3x3 stride-1 conv tile: the generic GEMM micro-kernel's loops
// (f32_gemm_generic.cc) with B read from the zero-padded input rows instead of an im2col panel, so row
// strips (kernels/dense_tiling) run the same path, and the cost model sees the same bytes, on every ISA.
#include <cstring>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

namespace {

// NR: the tile's pixels (32, or 16 for a row's half tile), a constant so the loops vectorise.
template <int NR>
void conv3x3_rows(const Conv3x3RowTile& t, const UkernelEpilogue& ep) {
  constexpr int MR = 8;
  float acc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    const float b = (ep.bias_row && static_cast<size_t>(i) < t.mr) ? ep.bias_row[i] : 0.0f;
    for (int j = 0; j < NR; ++j) acc[i][j] = b;
  }
  const float* a = t.a;
  const float* in = t.in + t.oy * t.w + t.ox0;
  for (int64_t c = 0; c < t.c; ++c, in += t.h * t.w) {
    for (int ky = 0; ky < 3; ++ky) {
      const float* row = in + ky * t.w;
      for (int kx = 0; kx < 3; ++kx) {
        const float* b = row + kx;
        for (int i = 0; i < MR; ++i) {
          const float ai = a[i];
          for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
        }
        a += MR;
      }
    }
  }
  for (size_t i = 0; i < t.mr; ++i) {
    if (ep.act.act != Act::kNone) apply_act_inplace(ep.act, acc[i], NR);
    std::memcpy(t.out + i * t.ldc, acc[i], NR * sizeof(float));
  }
}

}  // namespace

void f32_conv3x3_rows_8x32_generic(const Conv3x3RowTile& t, const UkernelEpilogue& ep) {
  if (t.nr == 16) return conv3x3_rows<16>(t, ep);
  conv3x3_rows<32>(t, ep);
}

}  // namespace hilsim::kernels
