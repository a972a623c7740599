#include "hilsim/kernels/dense_tiling.h"

namespace hilsim::kernels {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

DenseTiling dense_tiling(const ConvShape& s) {
  const int64_t P = s.out_h() * s.out_w(), fg = s.f / s.groups;
  const int64_t tail = P % kDenseTileCols;
  DenseTiling t;
  t.row_tiles = ceil_div(fg, kDenseTileRows);
  t.col_tiles = ceil_div(P, kDenseTileCols);
  t.filter_lanes = t.row_tiles * kDenseTileRows;
  t.pixel_lanes = P - tail + (tail == 0 ? 0 : tail <= kDenseTileCols / 2 ? kDenseTileCols / 2 : kDenseTileCols);
  const int64_t OW = s.out_w();
  t.row_strips = s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 &&
                 s.c / s.groups <= kRowStripsMaxChannels && OW % (kDenseTileCols / 2) == 0;
  if (t.row_strips) {
    t.col_tiles = s.out_h() * ceil_div(OW, kDenseTileCols);
    t.pixel_lanes = P;  // every row ends on a (half) tile boundary
  }
  return t;
}

}  // namespace hilsim::kernels
