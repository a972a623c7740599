// Sparse convolution on NCHW fp32 for every pruned format hilsim runs: block-punched (YOLObile; the
// unit is one kernel position of a bf x bc block, or one (channel, ky, kx) column of bf filters in
// the `block_col` variant), pattern-sparse 3x3 and 1x1 (R-TOSS), and unstructured CSR 1x1.
//
// One storage format serves them all: the filters are split into rows of `fb` filters (fb =
// SparseFormat::row_height(): min(bf, 16) for block formats, 1 for pattern and CSR, which makes CSR
// exactly one-filter rows); each row keeps the input columns (c, ky, kx) that any of its filters uses,
// and a dense fb x kept panel of their values. Rows run longest first (`order`) so dynamically handed
// out work stays balanced across threads, as YOLObile's block reordering. The input is zero-padded once
// per call into stride phases, so for any stride and dilation a kept column reads a contiguous run of
// pixels: the micro-kernel (generic/, x86/) is a dense fb x T register tile fed by one vector load per
// kept column.
//
// describe -> pack -> prepare -> run:
//   ConvDesc d{shape, epilogue, format};
//   SparseRows r = pack_sparse_rows(d.shape, w, keep, d.sparse.row_height());  // or read from a file
//   auto conv = prepare_sparse_conv(d, std::move(r), bias);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/sparse_tiling.h"

namespace hilsim::kernels {

// Row heights the engine has micro-kernels for.
bool row_height_supported(int fb);


// The packed kept weights of a conv (groups must be 1).
struct SparseRows {
  int fb = 1;                       // filters per row
  int64_t f = 0, c = 0, kh = 1, kw = 1;
  std::vector<int32_t> row_begin;   // rows + 1 offsets into cols
  std::vector<int32_t> cols;        // kept input column (c * kh + ky) * kw + kx, increasing within a row
  std::vector<float> values;        // per kept column, fb values (filters of the row; 0 past f)
  std::vector<int32_t> order;       // rows by decreasing kept length (ties: lower row first)
  int64_t rows() const { return static_cast<int64_t>(row_begin.size()) - 1; }
  // Weights the kernel multiplies per output pixel (stored values of real filters).
  int64_t kept_weights() const;
  int64_t storage_bytes() const { return sparse_weight_bytes(rows(), static_cast<int64_t>(cols.size()), fb); }
  // Throws hilsim::Error naming `where` unless the rows are well formed and fit the weight shape of s.
  void validate(const ConvShape& s, const std::string& where) const;
};

// keep: one byte per weight of w_oihw ([f, c, kh, kw]); a column is stored for a row when any of the
// row's filters keeps it (exact for block masks with fb dividing bf, and for fb = 1).
SparseRows pack_sparse_rows(const ConvShape& s, const float* w_oihw, const std::vector<uint8_t>& keep, int fb);

// Columns pack_sparse_rows stores for this mask at row height fb (the weights do not matter).
int64_t stored_columns(const ConvShape& s, const std::vector<uint8_t>& keep, int fb);

// The sparse engine's one entry point. rows.fb must equal d.sparse.row_height(); kernel_name() is
// d.sparse.name() + "_" + the ISA; weight_bytes() = rows.storage_bytes() + 4 x f when a bias is given.
std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvDesc& d, SparseRows rows, const float* bias_or_null,
                                                  Isa isa = active_isa());
// The name that kernel reports on a CPU running `isa`, without preparing one: e.g. "block_8x4_avx512".
std::string sparse_conv_kernel_name(const SparseFormat& f, Isa isa);

// Packs and prepares in one call, for callers that hold a mask and a kernel name (the calibration
// runner): `label` must be a SparseFormat name whose row height is fb.
std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvShape& s, const float* w_oihw, const float* bias_or_null,
                                                  const Epilogue& ep, const std::vector<uint8_t>& keep, int fb,
                                                  const std::string& label, Isa isa = active_isa());

// Micro-kernel contract (generic/, x86/): acc[f * T + t] = start + sum_j vals[j * vstride + f] *
// base[off[j] + t] for f < FB, t < T, where start = init[f * T + t] when init is set (a later channel
// chunk; init may equal acc) and bias[f] otherwise; only lanes t < valid are read from base, and acc's
// lanes t >= valid are left unspecified.
// Fused epilogue (out set; only kernels for which col_tile_writes_output(isa) is true): instead of
// acc, filter f < nf writes ep's activation of lane 16 * v + l, for each set bit l of lane_mask[v],
// packed in lane order at out + f * out_stride + out_at[v]. Lanes that are padding columns of the
// plane (or past its end) are left out, so the tile goes straight to the NCHW output: no second pass.
// acc is then scratch (the AVX2 kernels stage the tile there, in L1, for the epilogue).
struct ColTileArgs {
  const float* base;
  const int32_t* off;  // input offsets of the kept columns: 4 bytes each, streamed beside the values
  const float* vals;
  int64_t vstride;
  int64_t ncols;
  const float* bias;
  const float* init;
  float* acc;
  int64_t valid;
  float* out = nullptr;
  const Epilogue* ep = nullptr;
  int64_t out_stride = 0;
  int64_t nf = 0;
  const uint16_t* lane_mask = nullptr;
  const int64_t* out_at = nullptr;
};
using ColTileFn = void (*)(const ColTileArgs&);
// Whether the kernels of `isa` (as tile selection resolves it on this CPU) honour ColTileArgs::out.
bool col_tile_writes_output(Isa isa);
// Null when no kernel has that (fb, width).
ColTileFn col_tile_generic(int fb, int width);
#if defined(__x86_64__)
ColTileFn col_tile_avx2(int fb, int width);
ColTileFn col_tile_avx512(int fb, int width);
#endif

}  // namespace hilsim::kernels
