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

// How one run splits over `threads` workers (ThreadPool::parallel_for items), the kernel's own rule,
// which the cost model reads for the busiest thread's share. Strips: blocks of strip_block strips (their
// outputs stay in L2 across K blocks) x filter_chunks chunks of filter tiles, per image and group; small
// images split the filters too (packing the same strip twice). Pixel rows: filter_chunks chunks of the
// filter tiles (each packs its own A), then, where images x groups x filter chunks still leave a thread
// idle, pixel_chunks chunks of the pixel tiles (each packs only its rows of A, and reads all of B). A
// 192 -> 48 3x3 conv on a 6x6 map (DenseNet-161's late layers) had 2 filter tiles and one item: 0.97x
// its one-thread speed on 2 threads.
struct DenseSplit {
  int64_t strip_block = 1, filter_chunks = 1, pixel_chunks = 1;
  int64_t items = 1;
};
DenseSplit dense_split(const ConvShape& s, const DenseTiling& t, int threads);

// A 1x1 conv on a 1x1 map (squeeze-excite's two convs, a conv classifier) is a matrix-vector product
// per image: it runs as a GEMM with the images as rows, on the thin-row tiles, weights read once. As a
// conv its 32-pixel tiles computed 32 lanes for the one pixel: SE convs ran at ~7 GB/s of weights.
// The cost model prices these as the gemm class (model::conv_class).
bool dense_conv_runs_as_gemm(const ConvShape& shape);

// The rows of the GEMM that the dense kernel runs this conv as, or 0 where it runs as a conv: the images
// of a 1x1 map (dense_conv_runs_as_gemm), or the pixels of a 1x1, stride-1, unpadded, ungrouped conv on
// a plane small enough for pixel rows (kernels/dense_tiling): its weights packed once as B, the input
// read as A transposed, the same loops and tiles as PreparedGemm (plus the output's transpose). The cost
// model prices both as the gemm class: ResNeXt-101's 16 MiB 1x1 layers on 3x3 maps stream their
// weights under their MACs as a classifier GEMM does, which the conv class's additive terms priced at
// 1.6x on 2 threads. Sparse formats still run these convs on the sparse engine (only a 1x1 map keeps
// its zeros dense, runtime::conv_family).
int64_t dense_conv_gemm_rows(const ConvShape& shape);

}  // namespace hilsim::kernels
