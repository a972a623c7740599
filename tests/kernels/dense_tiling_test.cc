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

}  // namespace
}  // namespace hilsim::kernels
