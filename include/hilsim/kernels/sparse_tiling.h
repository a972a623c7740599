// The sparse engine's storage and tiling arithmetic, apart from the engine itself: the cost model's
// features and the calibrators (and the parsers' fuzz build) need the rules without the kernels.
#pragma once

#include <cstdint>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels {

// Bytes of packed sparse weights, the one formula every consumer uses (the packed rows, the prepared
// kernel, the emitted file, the cost model): per stored column fb float values and one int32 column
// index, per row one int32 offset (+1) and one int32 order entry. Bias is counted separately.
int64_t sparse_weight_bytes(int64_t rows, int64_t stored_cols, int fb);

// Output pixels per tile for a row height fb (one-filter rows also have a 128-pixel variant, rows of 8 a
// 48-pixel one, rows of 1-4 filters 32- and 16-pixel ones for small planes; sparse_tiling picks).
int col_tile_width(int fb);

// Every (row height, width) tile sparse_tiling can pick, in the one order each ISA's kernel table
// follows (col_tile_avx2 / _avx512 / _generic index their kernels by col_tile_index).
inline constexpr int kColTileShapes[][2] = {{1, 128}, {1, 64}, {1, 32}, {1, 16}, {2, 64}, {2, 32}, {2, 16},
                                            {4, 64},  {4, 32}, {4, 16}, {8, 48}, {8, 32}, {16, 16}};
inline constexpr int kColTileCount = static_cast<int>(sizeof kColTileShapes / sizeof kColTileShapes[0]);
// The position of (fb, width) in kColTileShapes, or -1.
inline int col_tile_index(int fb, int width) {
  for (int i = 0; i < kColTileCount; ++i)
    if (kColTileShapes[i][0] == fb && kColTileShapes[i][1] == width) return i;
  return -1;
}

// How the engine tiles a conv for rows of fb filters; the one rule both the engine and the cost model's
// features (model/kernel_features) follow. Output (oy, ox) is plane position oy * wq + ox of the
// stride-phase planes (the input itself when direct); tiles of `width` positions cover the span;
// when a tile's input over all channels outgrows the L1 budget, rows run `chunks` channel chunks of
// chunk_c channels. phases_used: stride phases the kept columns read (-1: every phase the kernel window
// can reach, which is what the engine sees unless the mask empties a phase).
struct SparseTiling {
  bool direct = false;
  int64_t hq = 0, wq = 0, span = 0;
  int width = 0;
  int64_t tiles = 0, chunk_c = 1, chunks = 1;
};
SparseTiling sparse_tiling(const ConvShape& s, int fb, int64_t phases_used = -1);

}  // namespace hilsim::kernels
