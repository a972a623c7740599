#include "hilsim/kernels/dense_tiling.h"

#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::conv_shape;

TEST(DenseTiling, FilterRowsOverPixelStrips) {
  const DenseTiling t = dense_tiling(conv_shape(64, 64, 56, 56, 3, 1, 1, 1, 1, 1));
  EXPECT_EQ(t.row_tiles, 8);
  EXPECT_EQ(t.col_tiles, 98);  // 3136 pixels, whole strips
  EXPECT_EQ(t.pixel_lanes, 3136);
  EXPECT_EQ(t.filter_lanes, 64);
}

TEST(DenseTiling, StripTailsSweepTheHalfOrTheWholeTile) {
  EXPECT_EQ(dense_tiling(conv_shape(8, 256, 10, 10, 1, 1, 0, 0, 0, 0)).pixel_lanes, 112);  // tail of 4
  EXPECT_EQ(dense_tiling(conv_shape(8, 16, 4, 4, 1, 1, 0, 0, 0, 0)).pixel_lanes, 16);      // exactly 16
  EXPECT_EQ(dense_tiling(conv_shape(8, 16, 7, 7, 3, 1, 1, 1, 1, 1)).pixel_lanes, 64);      // tail of 17
  EXPECT_EQ(dense_tiling(conv_shape(8, 16, 7, 7, 3, 1, 1, 1, 1, 1)).col_tiles, 2);
  EXPECT_EQ(dense_tiling(conv_shape(8, 16, 7, 7, 3, 1, 1, 1, 1, 1)).weight_sweeps, 2);
}

// Small planes swap the tile's roles where the strips would sweep many idle or half-tile lanes: 8-pixel
// row tiles (the GEMM's thin-tile rule) x 32-filter column tiles, the weights read once.
TEST(DenseTiling, SmallPlanesRunPixelsAsTileRows) {
  const DenseTiling t = dense_tiling(conv_shape(1024, 1024, 6, 6, 1, 1, 0, 0, 0, 0));  // ResNeXt-101 at 96
  EXPECT_TRUE(t.pixel_rows);
  EXPECT_EQ(t.row_tiles, 5);
  EXPECT_EQ(t.col_tiles, 32);
  EXPECT_EQ(t.pixel_lanes, 36);  // 4 whole row tiles and a half one
  EXPECT_EQ(t.filter_lanes, 1024);
  EXPECT_EQ(t.weight_sweeps, 1);
  EXPECT_EQ(t.panel_floats, 36 * 1024 + 36 * 1024);  // packed rows + the transposed output
  const DenseTiling r = dense_tiling(conv_shape(512, 512, 7, 7, 3, 1, 1, 1, 1, 1));  // ResNet layer 4
  EXPECT_TRUE(r.pixel_rows);
  EXPECT_EQ(r.pixel_lanes, 50);  // 6 whole row tiles and a thin one of 2 rows
  EXPECT_EQ(dense_tiling(conv_shape(64, 40, 9, 1, 1, 1, 0, 0, 0, 0)).filter_lanes, 48);  // a tail of 8: the half tile
  EXPECT_TRUE(dense_tiling(conv_shape(1024, 1024, 4, 4, 1, 1, 0, 0, 0, 0)).pixel_rows);   // 16: strips of half tiles
  // Whole strips, or too few filters for whole column tiles: the strips stay.
  EXPECT_FALSE(dense_tiling(conv_shape(512, 512, 8, 8, 1, 1, 0, 0, 0, 0)).pixel_rows);
  EXPECT_FALSE(dense_tiling(conv_shape(512, 512, 12, 12, 1, 1, 0, 0, 0, 0)).pixel_rows);
  EXPECT_FALSE(dense_tiling(conv_shape(512, 256, 10, 10, 1, 1, 0, 0, 0, 0)).pixel_rows);
  EXPECT_FALSE(dense_tiling(conv_shape(512, 512, 12, 12, 3, 1, 1, 1, 1, 1, 1, 32)).pixel_rows);  // 16 a group
  EXPECT_FALSE(dense_tiling(conv_shape(37, 70, 1, 1, 1, 1, 0, 0, 0, 0)).pixel_rows);  // one pixel: a GEMM of its own
}

TEST(DenseTiling, RowStripsOnlyFor3x3Stride1WithWholeHalfTileRows) {
  const DenseTiling t = dense_tiling(conv_shape(32, 32, 80, 80, 3, 1, 1, 1, 1, 1));
  EXPECT_TRUE(t.row_strips);
  EXPECT_EQ(t.col_tiles, 80 * 3);  // 32 + 32 + 16 per row
  EXPECT_EQ(t.pixel_lanes, 6400);
  EXPECT_FALSE(dense_tiling(conv_shape(64, 64, 56, 56, 3, 1, 1, 1, 1, 1)).row_strips);  // 56: not x16
  EXPECT_FALSE(dense_tiling(conv_shape(32, 64, 160, 160, 3, 2, 1, 1, 1, 1)).row_strips);  // stride 2
  EXPECT_FALSE(dense_tiling(conv_shape(32, 32, 80, 80, 1, 1, 0, 0, 0, 0)).row_strips);   // 1x1
  EXPECT_FALSE(dense_tiling(conv_shape(32, 32, 80, 80, 3, 1, 2, 2, 2, 2, 2)).row_strips);  // dilation 2
  EXPECT_TRUE(dense_tiling(conv_shape(3, 8, 10, 34, 3, 1, 0, 0, 0, 0)).row_strips);  // out_w 32
  EXPECT_TRUE(dense_tiling(conv_shape(64, 64, 32, 32, 3, 1, 1, 1, 1, 1)).row_strips);
  EXPECT_FALSE(dense_tiling(conv_shape(128, 128, 32, 32, 3, 1, 1, 1, 1, 1)).row_strips);  // > 64 channels
  EXPECT_TRUE(dense_tiling(conv_shape(128, 128, 32, 32, 3, 1, 1, 1, 1, 1, 1, 2)).row_strips);  // 64 per group
}

TEST(DenseTiling, FiltersPerGroupRoundUpToTheRowTile) {
  const DenseTiling t = dense_tiling(conv_shape(8, 13, 4, 4, 1, 1, 0, 0, 0, 0));
  EXPECT_EQ(t.row_tiles, 2);
  EXPECT_EQ(t.filter_lanes, 16);
  EXPECT_EQ(dense_tiling(conv_shape(16, 64, 7, 7, 3, 1, 1, 1, 1, 1, 1, 4)).filter_lanes, 16);  // 16 per group
}

// Every thread gets an item where the shape allows: pixel rows split the pixel tiles once the filter
// tiles run out (DenseNet's 192 -> 48 3x3 on 6x6: 2 filter tiles, 5 pixel tiles), and the strips keep
// their blocks x filter chunks.
TEST(DenseTiling, SplitFeedsEveryThread) {
  const ConvShape late = conv_shape(192, 48, 6, 6, 3, 1, 1, 1, 1, 1);
  const DenseTiling t = dense_tiling(late);
  ASSERT_TRUE(t.pixel_rows);
  EXPECT_EQ(dense_split(late, t, 1).items, 1);
  const DenseSplit two = dense_split(late, t, 2);
  EXPECT_EQ(two.filter_chunks, 1);
  EXPECT_EQ(two.pixel_chunks, 2);
  EXPECT_EQ(two.items, 2);
  EXPECT_EQ(dense_split(late, t, 8).pixel_chunks, 5);  // no more chunks than pixel tiles
  // Many filter tiles: filter chunks alone, A packed once per chunk.
  const ConvShape wide = conv_shape(512, 512, 7, 7, 3, 1, 1, 1, 1, 1);
  const DenseSplit w2 = dense_split(wide, dense_tiling(wide), 2);
  EXPECT_EQ(w2.pixel_chunks, 1);
  EXPECT_EQ(w2.filter_chunks, 8);
  // Strips: a 56x56 map has 98 strips, in blocks of 8 (98 / (4 x 2 threads) = 12, clamped to 8).
  const ConvShape big = conv_shape(64, 64, 56, 56, 3, 1, 1, 1, 1, 1);
  EXPECT_EQ(dense_split(big, dense_tiling(big), 1).strip_block, 8);
  EXPECT_EQ(dense_split(big, dense_tiling(big), 2).items, 13);  // 98 strips in blocks of 8
}

}  // namespace
}  // namespace hilsim::kernels
