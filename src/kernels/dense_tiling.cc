#include "hilsim/kernels/dense_tiling.h"

#include <algorithm>

#include "hilsim/kernels/gemm.h"

namespace hilsim::kernels {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Columns a run of n swept by 32-wide tiles computes: a tail of <= 16 on the half tile.
int64_t column_lanes(int64_t n) {
  const int64_t tail = n % kDenseTileCols;
  return n - tail + (tail == 0 ? 0 : tail <= kDenseTileCols / 2 ? kDenseTileCols / 2 : kDenseTileCols);
}
// What those columns cost in full-tile lanes: the half tile issues as many broadcasts per FMA row as the
// whole (a 1024-channel 4x4 1x1 layer, all half tiles, took 1.27x the time of the same lanes as whole
// tiles with the roles swapped).
double column_cost(int64_t n) {
  const int64_t tail = n % kDenseTileCols;
  return static_cast<double>(n - tail) +
         (tail == 0 ? 0.0 : tail <= kDenseTileCols / 2 ? kHalfTileLaneCost * (kDenseTileCols / 2) : kDenseTileCols);
}
}  // namespace

DenseTiling dense_tiling(const ConvShape& s) {
  const int64_t P = s.out_h() * s.out_w(), fg = s.f / s.groups;
  const int64_t kdim = (s.c / s.groups) * s.kh * s.kw;
  DenseTiling t;
  t.row_tiles = ceil_div(fg, kDenseTileRows);
  t.col_tiles = ceil_div(P, kDenseTileCols);
  t.filter_lanes = t.row_tiles * kDenseTileRows;
  t.pixel_lanes = column_lanes(P);
  t.weight_sweeps = t.col_tiles;
  t.panel_floats = t.col_tiles * kDenseTileCols * kdim;
  const int64_t OW = s.out_w();
  t.row_strips = s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 &&
                 s.c / s.groups <= kRowStripsMaxChannels && OW % (kDenseTileCols / 2) == 0;
  if (t.row_strips) {
    t.col_tiles = s.out_h() * ceil_div(OW, kDenseTileCols);
    t.pixel_lanes = P;  // every row ends on a (half) tile boundary
    t.panel_floats = (s.c / s.groups) * (s.h + s.pad_top + s.pad_bottom) * (s.w + s.pad_left + s.pad_right);
    return t;
  }
  const double swapped = static_cast<double>(gemm_rows_computed(P)) * column_cost(fg) * kPixelRowsGain;
  if (P > 1 && swapped < static_cast<double>(t.filter_lanes) * column_cost(P)) {
    t.pixel_rows = true;
    t.row_tiles = ceil_div(P, kDenseTileRows);
    t.col_tiles = ceil_div(fg, kDenseTileCols);
    t.filter_lanes = column_lanes(fg);
    t.pixel_lanes = gemm_rows_computed(P);
    t.weight_sweeps = 1;
    t.panel_floats = t.pixel_lanes * kdim + P * fg;
  }
  return t;
}

DenseSplit dense_split(const ConvShape& s, const DenseTiling& t, int threads) {
  DenseSplit d;
  const int64_t T = std::max(1, threads);
  if (t.pixel_rows) {
    const int64_t base = s.n * s.groups;
    while (T > 1 && base * d.filter_chunks < 4 * T && t.col_tiles / (d.filter_chunks * 2) >= 2) d.filter_chunks *= 2;
    if (T > 1 && base * d.filter_chunks < T)
      d.pixel_chunks = std::min(t.row_tiles, ceil_div(T, base * d.filter_chunks));
    d.items = base * d.filter_chunks * d.pixel_chunks;
    return d;
  }
  d.strip_block = T == 1 ? 8 : std::clamp<int64_t>(t.col_tiles / (4 * T), 1, 8);
  const int64_t base = s.n * s.groups * ceil_div(t.col_tiles, d.strip_block);
  while (T > 1 && base * d.filter_chunks < 4 * T && t.row_tiles / (d.filter_chunks * 2) >= 2) d.filter_chunks *= 2;
  d.items = base * d.filter_chunks;
  return d;
}

namespace {

// Ungrouped, unpadded, not depthwise, 1x1 window: the GEMM-shaped convs.
bool plain_1x1(const ConvShape& s) {
  return s.groups == 1 && s.kh == 1 && s.kw == 1 && !s.pad_top && !s.pad_left && !s.pad_bottom && !s.pad_right &&
         !s.is_depthwise();
}

}  // namespace

bool dense_conv_runs_as_gemm(const ConvShape& s) { return plain_1x1(s) && s.h == 1 && s.w == 1; }

int64_t dense_conv_gemm_rows(const ConvShape& s) {
  if (dense_conv_runs_as_gemm(s)) return s.n;
  return plain_1x1(s) && s.stride_h == 1 && s.stride_w == 1 && dense_tiling(s).pixel_rows ? s.n * s.out_h() * s.out_w() : 0;
}

}  // namespace hilsim::kernels
