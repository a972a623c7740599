// f32 GEMM micro-kernel for AVX2 + FMA, same 8 x 32 tile and packing as the AVX-512 one. The whole tile
// would need 32 ymm accumulators and AVX2 has 16 registers, so it runs as sub-tiles of R rows x V ymm
// columns (R * V = 12 accumulators for full tiles, 8 for thin and narrow ones), each over the full kc
// with its own C load / store: enough independent FMA chains for the FMA latency, A broadcast straight
// from memory, and sub-tiles past mr / nr skipped.
#include <immintrin.h>

#include "hilsim/kernels/gemm.h"
#include "vec_math_avx2.h"

namespace hilsim::kernels {

namespace {

using x86::act_avx2;
using x86::tail_mask_avx2;

constexpr int kMR = 8, kNR = 32;

// Rows [0, R) x columns [0, 8V) of a sub-tile at row r0 / column c0 of the tile; mr / nr are what is
// left of the tile from there (mr >= 1, nr >= 1).
template <int R, int V>
inline void sub_tile(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                     bool accumulate, bool last, const float* bias_row, const float* bias_col, const Epilogue& act) {
  __m256i m[V];
  bool full[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const ptrdiff_t left = static_cast<ptrdiff_t>(nr) - 8 * v;
    m[v] = tail_mask_avx2(left);
    full[v] = left >= 8;
  }
  __m256 acc[R][V];
  if (accumulate) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        if (static_cast<size_t>(i) >= mr) {
          acc[i][v] = _mm256_setzero_ps();
        } else {
          const float* p = c + i * ldc + 8 * v;
          acc[i][v] = full[v] ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m[v]);
        }
      }
  } else {
    __m256 col[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v)
      col[v] = !bias_col ? _mm256_setzero_ps()
               : full[v] ? _mm256_loadu_ps(bias_col + 8 * v)
                         : _mm256_maskload_ps(bias_col + 8 * v, m[v]);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 r = (bias_row && static_cast<size_t>(i) < mr) ? _mm256_set1_ps(bias_row[i]) : _mm256_setzero_ps();
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_add_ps(col[v], r);
    }
  }
  for (size_t k = 0; k < kc; ++k) {
    __m256 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += kNR;
  }
  if (last && act.act != Act::kNone) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = act_avx2(act, acc[i][v]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    if (static_cast<size_t>(i) >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      float* p = c + i * ldc + 8 * v;
      if (full[v]) {
        _mm256_storeu_ps(p, acc[i][v]);
      } else {
        _mm256_maskstore_ps(p, m[v], acc[i][v]);
      }
    }
  }
}

}  // namespace

void f32_gemm_8x32_avx2(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                        bool accumulate, bool last, const UkernelEpilogue& ep) {
  // Tiles of 3-4 rows or of 9-24 columns: 4 rows x 16 columns, per k step 2 B loads + 4 broadcasts feed 8
  // FMAs. Measured on Zen 1 against 8 x 8 strips (9 loads per 8 FMAs, ~8% slower on 3x3 convs) and
  // 6 + 2 rows x 16 (no better).
  // A 16-column half whose columns end within its first 8 (strip tails: 7x7 maps end on 17 columns,
  // 10x10 on 4) runs as one 8 x 8 sub-tile rather than two 4 x 16 with an idle vector; on an AVX2 EPYC
  // (1 thread) that took 7-12% off the c512 7x7, c512 10x10 1x1 and c256 14x14 layers.
  constexpr int R = 4, V = 2, W = 8 * V;
  static_assert(gemm_tile_rows_computed(2) == 2 && gemm_tile_rows_computed(3) == R && gemm_tile_rows_computed(5) == 2 * R);
  if (mr <= 2 && nr > 8) {
    // One or two rows (a classifier over one image): the 4 x 16 sub-tiles computed four rows to use one,
    // 8 FMAs per 64 bytes of weights, and a 1024 x 1000 head ran at ~30 GB/s from the L3. 2 x 32 keeps 8
    // accumulators and does 8 FMAs per 128 bytes.
    sub_tile<2, 4>(mr, nr, kc, a, b, c, ldc, accumulate, last, ep.bias_row, ep.bias_col, ep.act);
    return;
  }
  if (mr > 4 && nr > 24) {
    // A tile of 5-8 rows and 25-32 columns: 4 x 24 for each half of the rows (12 accumulators; 3 B loads and
    // 4 broadcasts per 12 FMAs), then the last 8 columns for all 8 rows (8 accumulators), the implicit-GEMM
    // conv's split (f32_conv3x3_rows_avx2.cc). On an AVX2 EPYC (Zen 3, 1 thread) a 1x1 c64 80x80 conv ran 5%
    // faster than on four 4 x 16 sub-tiles, other layers within the host's noise; 3 + 3 + 2 rows x 32 and
    // 6 + 2 rows x 16 ran no faster than 4 x 16. Rows past mr compute zeros, unstored, as
    // gemm_tile_rows_computed says (8).
    const float* br = ep.bias_row;
    sub_tile<4, 3>(mr, nr, kc, a, b, c, ldc, accumulate, last, br, ep.bias_col, ep.act);
    sub_tile<4, 3>(mr - 4, nr, kc, a + 4, b, c + 4 * ldc, ldc, accumulate, last, br ? br + 4 : nullptr, ep.bias_col,
                   ep.act);
    sub_tile<8, 1>(mr, nr - 24, kc, a, b + 24, c + 24, ldc, accumulate, last, br, ep.bias_col ? ep.bias_col + 24 : nullptr,
                   ep.act);
    return;
  }
  for (size_t c0 = 0; c0 < nr; c0 += W) {
    const float* bc = ep.bias_col ? ep.bias_col + c0 : nullptr;
    if (nr - c0 <= 8) {
      // Rows as gemm_tile_rows_computed says, like every other path here.
      if (mr <= 2) {
        sub_tile<2, 1>(mr, nr - c0, kc, a, b + c0, c + c0, ldc, accumulate, last, ep.bias_row, bc, ep.act);
      } else if (mr <= 4) {
        sub_tile<4, 1>(mr, nr - c0, kc, a, b + c0, c + c0, ldc, accumulate, last, ep.bias_row, bc, ep.act);
      } else {
        sub_tile<8, 1>(mr, nr - c0, kc, a, b + c0, c + c0, ldc, accumulate, last, ep.bias_row, bc, ep.act);
      }
      continue;
    }
    for (size_t r0 = 0; r0 < mr; r0 += R) {
      const float* br = ep.bias_row ? ep.bias_row + r0 : nullptr;
      sub_tile<R, V>(mr - r0, nr - c0, kc, a + r0, b + c0, c + r0 * ldc + c0, ldc, accumulate, last, br, bc, ep.act);
    }
  }
}

void f32_act_avx2(const Epilogue& e, float* x, int64_t n) {
  if (e.act == Act::kNone) return;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, act_avx2(e, _mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = tail_mask_avx2(static_cast<ptrdiff_t>(n - i));
    _mm256_maskstore_ps(x + i, m, act_avx2(e, _mm256_maskload_ps(x + i, m)));
  }
}

}  // namespace hilsim::kernels
