// How the dense GEMM conv (kernels/dense_conv) lays a conv onto its 8 x 32 register tile, apart from
// the conv itself: the cost model's features ask this rule instead of restating it.
#pragma once

#include <cstdint>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels {

// The micro-kernel's register tile (kernels/gemm: f32_gemm_8x32_*), rows x columns.
constexpr int64_t kDenseTileRows = 8, kDenseTileCols = 32;

// Per image and group, the GEMM C[F per group x pixels] runs 8-filter row tiles x 32-pixel strips; a
// strip's tail of <= 16 pixels runs on the 16-column half tile. Every strip builds an im2col panel and
// re-reads all the weights.
struct DenseTiling {
  int64_t row_tiles = 0, col_tiles = 0;  // register tiles per image and group (col_tiles: the strips)
  int64_t filter_lanes = 0;              // filters per group rounded up to what the tiles sweep
  int64_t pixel_lanes = 0;               // output pixels rounded up likewise
};
DenseTiling dense_tiling(const ConvShape& s);

}  // namespace hilsim::kernels
