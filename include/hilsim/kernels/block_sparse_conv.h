// Block-punched sparse convolution (YOLObile) on NCHW fp32, and the kept-column engine that the pattern
// and CSR kernels share.
//
// Engine: the filters are split into rows of `fb` filters; a row stores the input columns (c, ky, kx)
// it keeps and a dense fb x kept value panel. run() zero-pads the input once into stride phases, so
// every kept column of any stride reads a contiguous run of input pixels: the micro-kernel is a dense
// fb x T register tile (T output pixels) fed by one vector load per kept column. Rows are ordered
// longest first so dynamically scheduled work stays balanced. groups must be 1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

// Which units of a [f, c, kh, kw] weight tensor a block-punched layer keeps (1 = kept).
// Blocks are bf filters x bc channels (edge blocks smaller when f or c is not a multiple).
//  per_column = false: the unit is one kernel position (ky, kx) across all weights of a block;
//    keep[(rb * cblocks + cb) * kh * kw + ky * kw + kx], rb = f / bf, cb = c / bc, cblocks = ceil(c / bc).
//    With a 1x1 kernel a block is kept or removed whole.
//  per_column = true (`block_col`): the unit is one (channel, ky, kx) column across a block's bf filters;
//    keep[(rb * c + ch) * kh * kw + ky * kw + kx]; bc is then only a label.
struct BlockMask {
  int bf = 8, bc = 4;
  bool per_column = false;
  int64_t f = 0, c = 0, kh = 1, kw = 1;
  std::vector<uint8_t> keep;

  int64_t row_blocks() const { return (f + bf - 1) / bf; }
  int64_t col_blocks() const { return (c + bc - 1) / bc; }
  int64_t units() const { return row_blocks() * (per_column ? c : col_blocks()) * kh * kw; }
  // Throws hilsim::Error when bf/bc are not supported or keep has the wrong size.
  void validate() const;
  // One byte per weight (OIHW): 1 where the weight is kept.
  std::vector<uint8_t> weight_keep() const;
};

bool block_size_supported(int bf, int bc);  // bf in {1,2,4,8,16,32}, bc in {1,2,4,8,16}

// The packed form the engine runs: rows of fb filters (fb in {1,2,4,8,16,32}).
struct KeptColumnRows {
  int fb = 1;
  int64_t f = 0, c = 0, kh = 1, kw = 1;
  std::vector<int64_t> row_begin;  // rows + 1 offsets into cols
  std::vector<int32_t> cols;       // kept input column (c * kh + ky) * kw + kx, increasing within a row
  std::vector<float> values;       // fb values per kept column (0 for filters past f)
  int64_t rows() const { return static_cast<int64_t>(row_begin.size()) - 1; }
  // Weights the kernel multiplies per output pixel (stored values of real filters).
  int64_t kept_weights() const;
  // values * 4 + int32 column indices; bias is added by the prepared conv.
  int64_t storage_bytes() const;
};

// keep: one byte per weight [f, c, kh, kw]; a row stores a column when any of its fb filters keeps it.
KeptColumnRows pack_kept_columns(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w_oihw,
                                 const std::vector<uint8_t>& keep, int fb);

// Runs packed rows; `label` names the format in kernel_name() (e.g. "block_punched_8x4").
std::unique_ptr<PreparedConv> prepare_kept_column_conv(const ConvShape& shape, KeptColumnRows rows,
                                                       const float* bias_or_null, const Epilogue& ep,
                                                       const std::string& label, Isa isa = active_isa());

// Weights the mask marks pruned are ignored; an all-pruned layer outputs act(bias).
std::unique_ptr<PreparedConv> prepare_block_sparse_conv(const ConvShape& shape, const float* w_oihw,
                                                        const float* bias_or_null, const Epilogue& ep,
                                                        const BlockMask& mask, Isa isa = active_isa());

// Weights a block mask keeps (edge blocks counted at their real size).
int64_t kept_weights(const BlockMask& mask);

// Micro-kernel contract: acc[f * T + t] = start + sum_j vals[j * vstride + f] * base[off[j] + t] for
// f < FB (FB = min(fb, 16)), t < T, where start = init[f * T + t] when init is set (a later channel
// chunk; init may equal acc) and bias[f] otherwise; only lanes t < valid are read from base.
struct ColTileArgs {
  const float* base;
  const int64_t* off;
  const float* vals;
  int64_t vstride;
  int64_t ncols;
  const float* bias;
  const float* init;
  float* acc;
  int64_t valid;
};
using ColTileFn = void (*)(const ColTileArgs&);
// Output pixels per tile for a row height fb (one-filter rows also have a 128-pixel variant).
int col_tile_width(int fb);
// Null when no kernel has that (fb, width).
ColTileFn col_tile_generic(int fb, int width);
#if defined(__x86_64__)
ColTileFn col_tile_avx2(int fb, int width);
ColTileFn col_tile_avx512(int fb, int width);
#endif

}  // namespace hilsim::kernels
