// How the dense GEMM conv (kernels/dense_conv) lays a conv onto its 8 x 32 register tile, apart from
// the conv itself: the cost model's features ask this rule instead of restating it.
#pragma once

#include <cstdint>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels {

// The micro-kernel's register tile (kernels/gemm: f32_gemm_8x32_*), rows x columns.
constexpr int64_t kDenseTileRows = 8, kDenseTileCols = 32;

// Per image and group, the GEMM C[F per group x pixels] runs 8-filter row tiles x 32-pixel strips; a
// strip's tail of <= 16 pixels runs on the 16-column half tile (AVX2 sweeps only the first 8 columns of
// a half its tail ends within; the lanes here stay ISA-free). Every strip re-reads all the weights.
// Strips run over the flattened pixels and build an im2col panel, except for row strips: a 3x3 stride-1
// conv with at most kRowStripsMaxChannels input channels per group whose output rows are a whole number
// of 16-pixel half tiles runs its strips along each output row (32, 32, ..., then 16 or 32: no lane
// lost) and reads them straight from a zero-padded copy of the input (implicit GEMM, no panel) on every
// ISA: the row_strips flag is also what tells the cost model which of the two paths runs.
// Measured on AVX-512 at 1 thread against the flattened im2col path (same micro-kernel, same process): 1.07-1.32x
// at 16-56 channels (c32 80x80: 1.14-1.16x), 1.0-1.03x at 64, 0.92-0.93x at 128 and 256 (c128 80x80,
// c256 16x16), where a strip's input rows no longer stay in L1 across the filter tiles.
constexpr int64_t kRowStripsMaxChannels = 64;
struct DenseTiling {
  int64_t row_tiles = 0, col_tiles = 0;  // register tiles per image and group (col_tiles: the strips)
  int64_t filter_lanes = 0;              // filters per group rounded up to what the tiles sweep
  int64_t pixel_lanes = 0;               // output pixels rounded up likewise
  bool row_strips = false;               // strips along output rows (col_tiles = out_h x strips per row)
};
DenseTiling dense_tiling(const ConvShape& s);

}  // namespace hilsim::kernels
