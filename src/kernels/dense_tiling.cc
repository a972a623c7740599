#include "hilsim/kernels/dense_tiling.h"

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Pixel rows pay a transposed store per tile and a panel of every pixel; they must save more lanes than
// that costs. The panel (pixels x K floats) is bounded so it stays within a core's L2.
constexpr double kPixelRowsMaxLaneShare = 0.92;
constexpr int64_t kPixelRowsMaxPanelBytes = 2 << 20;

}  // namespace

DenseTiling dense_tiling(const ConvShape& s) {
  const int64_t P = s.out_h() * s.out_w(), fg = s.f / s.groups, k = (s.c / s.groups) * s.kh * s.kw;
  const int64_t half = kDenseTileCols / 2;
  DenseTiling t;
  // Filter rows: whole strips, then a tail on the full or the half tile.
  const int64_t tail = P % kDenseTileCols;
  const int64_t strip_pixel_lanes = P - tail + (tail == 0 ? 0 : tail <= half ? half : kDenseTileCols);
  const int64_t strip_filter_lanes = ceil_div(fg, kDenseTileRows) * kDenseTileRows;
  const int64_t row_pixel_lanes = ceil_div(P, kDenseTileRows) * kDenseTileRows;
  const int64_t row_filter_lanes = ceil_div(fg, kDenseTileCols) * kDenseTileCols;
  const double strip_lanes = static_cast<double>(strip_pixel_lanes) * static_cast<double>(strip_filter_lanes);
  const double row_lanes = static_cast<double>(row_pixel_lanes) * static_cast<double>(row_filter_lanes);
  t.pixel_rows = row_lanes < kPixelRowsMaxLaneShare * strip_lanes &&
                 row_pixel_lanes * k * static_cast<int64_t>(sizeof(float)) <= kPixelRowsMaxPanelBytes;
  if (t.pixel_rows) {
    t.row_tiles = row_pixel_lanes / kDenseTileRows;
    t.col_tiles = row_filter_lanes / kDenseTileCols;
    t.pixel_lanes = row_pixel_lanes;
    t.filter_lanes = row_filter_lanes;
    t.strips = 1;
    t.panel_pixels = row_pixel_lanes;
  } else {
    t.row_tiles = strip_filter_lanes / kDenseTileRows;
    t.col_tiles = ceil_div(P, kDenseTileCols);
    t.pixel_lanes = strip_pixel_lanes;
    t.filter_lanes = strip_filter_lanes;
    t.strips = t.col_tiles;
    t.panel_pixels = kDenseTileCols;
  }
  return t;
}

}  // namespace hilsim::kernels
