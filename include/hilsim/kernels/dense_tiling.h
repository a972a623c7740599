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
// Pixel rows: on small output planes the roles swap. The tile's rows are 8 output pixels (an im2col
// panel of the input, packed as the GEMM's A) and its columns 32 filters of the group (the weights,
// packed once as B), as for a fully connected layer; the tile lands in a [pixels][filters] buffer that
// is transposed into the output. A 6x6 plane fills 36 of 40 rows where its strip filled 36 of 48
// lanes, a 3x3 plane 9 of 10 rows against 9 of 16 (ResNeXt-101's late 1x1 layers ran at 36 and 22
// GMAC/s against 55 on larger planes; ResNet's 7x7 3x3 layers ran 1.35x faster swapped). Chosen when
// its lanes, half tiles priced at kHalfTileLaneCost, cost kPixelRowsGain times less than the strips':
// the price of packing A and of the transpose (a 10x10 1x1 layer of 512 -> 256 channels, 100 rows
// against 112 lanes, ran 5-10% slower swapped; a 12x12 one 13%).
constexpr double kPixelRowsGain = 1.2;
constexpr double kHalfTileLaneCost = 1.25;
struct DenseTiling {
  // Register tiles per image and group: row_tiles x col_tiles, the tile's rows and columns (filter tiles
  // x pixel strips; with pixel_rows, pixel tiles x filter tiles).
  int64_t row_tiles = 0, col_tiles = 0;
  int64_t filter_lanes = 0;   // filters per group rounded up to what the tiles sweep
  int64_t pixel_lanes = 0;    // output pixels rounded up likewise
  int64_t weight_sweeps = 0;  // reads of the weights per image and group (once per strip; once with pixel_rows)
  int64_t panel_floats = 0;   // floats a run copies per image and group: im2col panels, padded input or A + transpose
  bool row_strips = false;    // strips along output rows (col_tiles = out_h x strips per row)
  bool pixel_rows = false;    // pixels as the tile's rows, filters as its columns
};
DenseTiling dense_tiling(const ConvShape& s);

}  // namespace hilsim::kernels
