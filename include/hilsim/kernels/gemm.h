// Dense GEMM: the register-tile micro-kernels shared by dense (and, if useful, sparse) convolution, their
// packing formats, and an FC-layer GEMM operator on top.
//
// Two layers, never mixed (as in XNNPACK): a micro-kernel computes one MR x NR tile of C from packed
// panels — no allocation, no threads; operators (gemm(), PreparedGemm, dense conv) pack, block for the
// caches and split work over a ThreadPool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/thread_pool.h"

namespace hilsim::kernels {

// What a micro-kernel adds when it initialises (bias) and finishes (activation) a tile.
struct UkernelEpilogue {
  const float* bias_row = nullptr;  // mr values, one per tile row (conv: per output channel)
  const float* bias_col = nullptr;  // nr values, one per tile column (FC: per output feature)
  Epilogue act;
};

// C[mr x nr] (row stride ldc) = (accumulate ? C : bias) + A * B over kc steps; `last` applies the
// activation before the store. a: packed [kc][MR] with rows >= mr zero; b: packed [kc][NR] (columns
// >= nr finite, e.g. zero); no alignment required. mr <= MR, nr <= NR. Only the mr x nr tile of C is read or written.
using GemmUkernelFn = void (*)(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c,
                               size_t ldc, bool accumulate, bool last, const UkernelEpilogue& ep);

struct GemmUkernel {
  int mr = 0, nr = 0;
  GemmUkernelFn fn = nullptr;
  const char* name = "";
  Isa isa = Isa::kGeneric;
};

// Rows of an 8-row tile that every ISA's micro-kernel computes when `live` of them hold data: a thin
// tile (a classifier over one image) runs 2 rows, a half tile 4, so weights read once feed no idle FMAs.
// The cost model counts lane MACs with this rule (one per ISA would predict a different kernel).
constexpr int64_t gemm_tile_rows_computed(int64_t live) { return live <= 2 ? 2 : live <= 4 ? 4 : 8; }
// Rows computed over all tiles of an m-row GEMM.
constexpr int64_t gemm_rows_computed(int64_t m) {
  return m / 8 * 8 + (m % 8 ? gemm_tile_rows_computed(m % 8) : 0);
}

// The micro-kernels (register tile MR x NR, ISA in the name).
void f32_gemm_8x32_generic(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                           bool accumulate, bool last, const UkernelEpilogue& ep);
#if defined(__x86_64__)
void f32_gemm_8x32_avx2(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                        bool accumulate, bool last, const UkernelEpilogue& ep);
void f32_gemm_8x32_avx512(size_t mr, size_t nr, size_t kc, const float* a, const float* b, float* c, size_t ldc,
                          bool accumulate, bool last, const UkernelEpilogue& ep);
#endif

// The best micro-kernel for `isa` (falls back to generic where that ISA has none). Throws if the CPU
// cannot run `isa`.
const GemmUkernel& gemm_ukernel(Isa isa);

// Packs rows [0, rows) x k [0, kc) of A (element (i, k) at a[i * rs + k * cs]) into [kc][mr_tile],
// zero-filling rows >= rows. rs/cs let one routine pack A and A^T.
void pack_a_panel(size_t mr_tile, size_t rows, size_t kc, const float* a, size_t rs, size_t cs, float* dst);
// Packs k [0, kc) x columns [0, cols) of B (element (k, j) at b[k * rs + j * cs]) into [kc][nr_tile],
// zero-filling columns >= cols.
void pack_b_panel(size_t nr_tile, size_t cols, size_t kc, const float* b, size_t rs, size_t cs, float* dst);

// im2col of one group's input (in: [c / groups, h, w]) for output pixels [p0, p0 + cols) (flattened
// oh * out_w + ow) and reduction rows [k0, k0 + kc) (k = (c, ky, kx), OIHW order) into dst[kc][nr_tile],
// zero where a window reads padding and in columns >= cols. With nr_tile = NR it is a packed B panel
// (pixels as columns); with nr_tile = MR a packed A panel (pixels as rows).
using Im2colFn = void (*)(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                          float* dst, int64_t nr_tile);
void f32_im2col_generic(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                        float* dst, int64_t nr_tile);
#if defined(__x86_64__)
void f32_im2col_avx2(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                     float* dst, int64_t nr_tile);
void f32_im2col_avx512(const ConvShape& s, const float* in, int64_t p0, int64_t cols, int64_t k0, int64_t kc,
                       float* dst, int64_t nr_tile);
#endif
Im2colFn im2col_fn(Isa isa);

// Implicit GEMM for kernels/dense_tiling's row strips (3x3, stride 1, dilation 1): the tile of mr <= 8
// filters x nr = 16 or 32 pixels of output row oy from column ox0, with B read straight from the input
// rows instead of an im2col panel. in: one group's zero-padded planes [c][h][w] (the conv's padding
// already in place, so output (oy, ox) reads rows oy..oy+2, columns ox..ox+2); a: packed [c * 9][8]
// (k = (c, ky, kx)); C tile at out[i * ldc + j], bias and activation as UkernelEpilogue (one pass).
struct Conv3x3RowTile {
  const float* in = nullptr;
  int64_t c = 0, h = 0, w = 0;
  int64_t oy = 0, ox0 = 0;
  size_t mr = 0, nr = 0;
  const float* a = nullptr;
  float* out = nullptr;
  size_t ldc = 0;
};
using Conv3x3RowsFn = void (*)(const Conv3x3RowTile& t, const UkernelEpilogue& ep);
void f32_conv3x3_rows_8x32_generic(const Conv3x3RowTile& t, const UkernelEpilogue& ep);
#if defined(__x86_64__)
void f32_conv3x3_rows_8x32_avx2(const Conv3x3RowTile& t, const UkernelEpilogue& ep);
void f32_conv3x3_rows_8x32_avx512(const Conv3x3RowTile& t, const UkernelEpilogue& ep);
#endif
// The implicit tile for `isa` (every ISA has one: generic where that ISA has none of its own). Throws if
// the CPU cannot run `isa`.
Conv3x3RowsFn conv3x3_rows_fn(Isa isa);

// Activation over n contiguous floats with the ISA's vector code (the epilogue of memory-bound ops).
void apply_act_inplace(Isa isa, const Epilogue& e, float* x, int64_t n);
void f32_act_generic(const Epilogue& e, float* x, int64_t n);
#if defined(__x86_64__)
void f32_act_avx2(const Epilogue& e, float* x, int64_t n);
void f32_act_avx512(const Epilogue& e, float* x, int64_t n);
#endif

// 64-byte aligned float buffer (packed panels are read with aligned vector loads).
struct AlignedFree {
  void operator()(float* p) const;
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;
AlignedFloats alloc_aligned_floats(size_t n);  // zero-filled

// B (the weights of an FC layer) packed once: C[M x N] = act(A[M x K] * B[K x N] + bias[N]).
// B is [K x N] row-major, or [N x K] when trans_b (ONNX Gemm with transB=1, the usual FC layout).
class PreparedGemm {
 public:
  PreparedGemm(int64_t n, int64_t k, const float* b, int64_t ldb, bool trans_b, const float* bias_or_null,
               const Epilogue& ep, Isa isa = active_isa());
  // A element (i, k) at a[i * lda + k], or a[k * lda + i] when trans_a.
  void run(int64_t m, const float* a, int64_t lda, bool trans_a, float* c, int64_t ldc, ThreadPool& pool) const;
  std::string kernel_name() const;
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }

 private:
  const GemmUkernel* uk_;
  int64_t n_, k_, kc_;
  AlignedFloats b_packed_;  // [N tiles][K][NR]
  std::vector<float> bias_;
  Epilogue ep_;
};

// One-shot GEMM (packs B on every call; use PreparedGemm for weights reused across calls).
// C = act(op(A) * op(B) + bias), bias has N values (or null).
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a, const float* b, int64_t ldb,
          bool trans_b, float* c, int64_t ldc, const float* bias_or_null, const Epilogue& ep, ThreadPool& pool,
          Isa isa = active_isa());

}  // namespace hilsim::kernels
