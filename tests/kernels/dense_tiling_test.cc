#include "hilsim/kernels/dense_tiling.h"

#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::conv_shape;

TEST(DenseTiling, LargeMapsRunFilterRowsOverPixelStrips) {
  const DenseTiling t = dense_tiling(conv_shape(64, 64, 56, 56, 3, 1, 1, 1, 1, 1));
  EXPECT_FALSE(t.pixel_rows);
  EXPECT_EQ(t.row_tiles, 8);
  EXPECT_EQ(t.col_tiles, 98);  // 3136 pixels, whole strips
  EXPECT_EQ(t.pixel_lanes, 3136);
  EXPECT_EQ(t.strips, 98);
  EXPECT_EQ(t.panel_pixels, 32);
}

TEST(DenseTiling, StripTailsSweepTheHalfOrTheWholeTile) {
  EXPECT_EQ(dense_tiling(conv_shape(8, 256, 10, 10, 1, 1, 0, 0, 0, 0)).pixel_lanes, 112);  // tail of 4
  EXPECT_EQ(dense_tiling(conv_shape(8, 16, 5, 5, 1, 1, 0, 0, 0, 0)).pixel_lanes, 32);      // tail of 25
  EXPECT_EQ(dense_tiling(conv_shape(8, 13, 4, 4, 1, 1, 0, 0, 0, 0)).filter_lanes, 16);     // 13 filters
}

TEST(DenseTiling, SmallMapsRunPixelRowsWhenThatSavesLanes) {
  const DenseTiling t = dense_tiling(conv_shape(512, 512, 7, 7, 3, 1, 1, 1, 1, 1));
  EXPECT_TRUE(t.pixel_rows);
  EXPECT_EQ(t.row_tiles, 7);   // 49 pixels on 8-pixel tiles
  EXPECT_EQ(t.col_tiles, 16);  // 512 filters on 32-filter tiles
  EXPECT_EQ(t.pixel_lanes, 56);
  EXPECT_EQ(t.filter_lanes, 512);
  EXPECT_EQ(t.strips, 1);
  // 20 filters would sweep 32 as columns, 24 as rows: the strips stay.
  EXPECT_FALSE(dense_tiling(conv_shape(64, 20, 7, 7, 3, 1, 1, 1, 1, 1)).pixel_rows);
  // Per group: 2 groups of 32 filters.
  EXPECT_TRUE(dense_tiling(conv_shape(16, 64, 7, 7, 3, 1, 1, 1, 1, 1, 1, 2)).pixel_rows);
  // A panel of every pixel beyond L2 keeps the strips.
  EXPECT_FALSE(dense_tiling(conv_shape(4096, 512, 7, 7, 3, 1, 1, 1, 1, 1)).pixel_rows);
}

}  // namespace
}  // namespace hilsim::kernels
