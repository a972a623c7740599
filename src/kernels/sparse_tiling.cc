#include "hilsim/kernels/sparse_tiling.h"

#include <algorithm>

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Input bytes one tile's channel chunk may span (most of a 32 KiB L1: the window slides by one tile
// width between consecutive tiles, so most of it is still there; 24 KiB split a 32-channel 80x80 3x3
// layer into chunks of 28 and 4 channels, 8% slower on AVX2 than one chunk).
constexpr int64_t kL1Budget = 28 * 1024;
// What one tile's walk over a row's kept columns costs beside its FMAs, in lanes (small-plane widths).
constexpr int64_t kTileWalkLanes = 16;

}  // namespace

int64_t sparse_weight_bytes(int64_t rows, int64_t stored_cols, int fb) {
  const int64_t values = stored_cols * fb * static_cast<int64_t>(sizeof(float));
  const int64_t indices = stored_cols * static_cast<int64_t>(sizeof(int32_t));
  const int64_t offsets = (rows + 1) * static_cast<int64_t>(sizeof(int32_t));
  const int64_t order = rows * static_cast<int64_t>(sizeof(int32_t));
  return values + indices + offsets + order;
}

int col_tile_width(int fb) { return fb <= 4 ? 64 : fb == 8 ? 32 : 16; }

SparseTiling sparse_tiling(const ConvShape& s, int fb, int64_t phases_used) {
  SparseTiling t;
  // 1x1 stride-1 unpadded convs read the input in place (a copy would cost as much as the layer).
  t.direct = s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && !s.pad_top && !s.pad_left &&
             !s.pad_bottom && !s.pad_right;
  t.hq = t.direct ? s.h : ceil_div(s.h + s.pad_top + s.pad_bottom, s.stride_h);
  t.wq = t.direct ? s.w : ceil_div(s.w + s.pad_left + s.pad_right, s.stride_w);
  t.span = (s.out_h() - 1) * t.wq + s.out_w();
  t.width = col_tile_width(fb);
  // One-filter rows run 128-pixel tiles when the output plane fills them (fewer calls per column). Rows
  // of 8 run 48 pixels unless that computes over 5% more lanes than 32 would (small planes): measured
  // ~10% faster over the bench-kernels shapes at 8x4@0.8 on AVX-512.
  if (fb == 1 && t.span >= 112) t.width = 128;
  // Rows of up to 4 filters on small planes run narrower tiles, each tile's walk over its columns (index,
  // broadcast) priced as kTileWalkLanes lanes: 5x5 maps had computed 64 lanes for 25 pixels and SE
  // blocks' 1x1 maps 64 for 1, and pattern-pruned 1x1 layers of MobileNetV3 ran 1.6x slower than dense.
  if (fb <= 4 && t.span < 64) {
    auto cost = [&](int64_t w) { return ceil_div(t.span, w) * (w + kTileWalkLanes); };
    for (int64_t w : {32, 16})
      if (cost(w) < cost(t.width)) t.width = static_cast<int>(w);
  }
  if (fb == 8 && ceil_div(t.span, 48) * 48 * 20 <= ceil_div(t.span, 32) * 32 * 21) t.width = 48;
  t.tiles = ceil_div(t.span, t.width);
  // Channel chunks: a tile's input over all channels can outgrow L1 (then every row streams it from
  // L2); rows then run chunk by chunk, carrying their accumulators in a small buffer.
  // Per channel and phase a tile reads its width plus the window's reach: (kh - 1) rows and (kw - 1)
  // columns of the phase plane. (A whole extra row had been counted: a 128-channel 20x20 3x3 layer ran
  // 3 chunks, one of 4 channels, where 2 fit.)
  if (phases_used < 0) phases_used = std::min(s.kh, s.stride_h) * std::min(s.kw, s.stride_w);
  const int64_t reach = (s.kh - 1) * s.dil_h / s.stride_h * t.wq + (s.kw - 1) * s.dil_w / s.stride_w;
  const int64_t per_ch = t.direct ? t.width : std::max<int64_t>(phases_used, 1) * (t.width + reach);
  // Equal chunks: the most channels that fit would leave a last chunk of a few channels, all call
  // overhead (300 channels at 149 a chunk: 149, 149, 2).
  const int64_t fit = std::clamp<int64_t>(kL1Budget / (per_ch * 4), 1, std::max<int64_t>(1, s.c));
  t.chunks = ceil_div(s.c, fit);
  t.chunk_c = ceil_div(s.c, t.chunks);
  return t;
}

}  // namespace hilsim::kernels
