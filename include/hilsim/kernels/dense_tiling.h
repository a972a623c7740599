// How the dense GEMM conv (kernels/dense_conv) lays a conv onto its 8 x 32 register tile, apart from
// the conv itself: the cost model's features ask this rule instead of restating it.
#pragma once

#include <cstdint>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels {

// The micro-kernel's register tile (kernels/gemm: f32_gemm_8x32_*), rows x columns.
constexpr int64_t kDenseTileRows = 8, kDenseTileCols = 32;

// Per image and group, the GEMM C[F per group x pixels] runs either
// - filter rows (pixel_rows false): 8-filter tiles x 32-pixel strips, a strip's tail of <= 16 pixels on
//   the 16-column half tile; every strip builds an im2col panel and re-reads all the weights;
// - pixel rows (pixel_rows true): the transposed product, 8-pixel tiles x 32-filter tiles, every tile
//   stored transposed into the NCHW output; the im2col panel is built once for all pixels and the
//   weights are read once. Small images, whose strips leave many lanes idle, take this way (a 7x7 map
//   sweeps 64 lanes for 49 pixels as strips, 56 as pixel rows).
struct DenseTiling {
  bool pixel_rows = false;
  int64_t row_tiles = 0, col_tiles = 0;  // register tiles per image and group
  int64_t filter_lanes = 0;              // filters per group rounded up to what the tiles sweep
  int64_t pixel_lanes = 0;               // output pixels rounded up likewise
  int64_t strips = 0;                    // im2col panels built per image and group
  int64_t panel_pixels = 0;              // pixels one panel holds (32, or every pixel when pixel_rows)
};
DenseTiling dense_tiling(const ConvShape& s);

}  // namespace hilsim::kernels
