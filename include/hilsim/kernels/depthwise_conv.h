// Depthwise convolution (groups == c == f) on NCHW fp32, two paths:
// - rows: one channel plane per work item, copied into a zero-padded scratch (so the inner loops have
//   no bounds checks), each output row a row micro-kernel. AVX-512 and AVX2 row kernels for 3x3, 5x5
//   and 7x7 (ConvNeXt), stride 1 and 2; any other kernel size, stride or dilation runs the portable
//   row kernel.
// - channel lanes: kDwChannelLanes channels per work item, transposed into one zero-padded tile
//   [ph][pw][lanes] so that one vector holds one pixel of every channel; each output pixel is then
//   K x K full-width FMAs whatever the map's width or the stride, and the result is transposed back.
//   Narrow maps (a 7-wide row fills 7 of 16 lanes) and stride 2 (every load a gather) lose most of
//   the rows path's lanes; this path pays two transposes instead.
// depthwise_uses_channel_lanes() is the one rule that picks the path, on every ISA.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

// w_oihw: [c, 1, kh, kw]; bias: c values or null. Throws hilsim::Error if the shape is not depthwise.
// The ISA defaults to active_isa(), as for dense convs.
std::unique_ptr<PreparedConv> prepare_depthwise_conv(const ConvShape& shape, const float* w_oihw,
                                                     const float* bias_or_null, const Epilogue& ep,
                                                     Isa isa = active_isa());

// Channels per work item of the channel-lanes path (the weights are packed in groups of as many).
inline constexpr int kDwChannelLanes = 16;

// Which path a depthwise conv runs: channel lanes for square 3x3/5x5/7x7 windows at stride 1 or 2 without
// dilation whose output is narrow, rows otherwise (wide maps fill the rows path's vectors and need no
// transposes). The transposes cost about the same per output whatever the window, so the more taps the
// wider the outputs that gain: up to 14 wide for 3x3 and 5x5, 56 for 7x7. ISA-independent, so the cost model's
// features need only the shape; inline, because the features call it and builds of the features
// without the kernels must link.
// Measured on AVX-512 (both paths, every MobileNetV2 / EfficientNet-B0 depthwise shape, 1 thread):
// 7-wide outputs ran 2.1-3.6x faster in lanes (3x3 and 5x5, either stride), 14-wide 5x5 ones 1.5x;
// 14-wide 3x3 ones ran even (stride 2) or up to 1.25x slower (stride 1), and 28 wide and more even to
// 2x slower. On AVX2 the 7-wide and 14-wide 5x5 shapes ran 1.9-3.8x faster in lanes, and 3x3 ran
// 2.8-3.1x faster in lanes at 14 wide, 1.9x at 28 and even at 56 (stride 1; 192 channels, 1 thread,
// one run): the rows kernel's per-row and per-plane costs outweigh 14 outputs a row, where bench-kernels
// had it at 0.18-0.28x oneDNN. 14 is the compromise: AVX2's 3x gain against AVX-512's 0.8-1x there.
// With AVX2's rows kernel in blocks of 4 rows x 16 outputs and its plane copied without per-row calls
// (192 channels, 1 thread, a shared host, noisy), 3x3 ran 1.3x (stride 1) / 1.06x (stride 2) faster in
// lanes at 14 wide and 1.2x faster in rows at 28 wide, 1.5-2x at 56: the crossover lies between 14 and
// 28 on AVX2 too, so the limit stays.
inline constexpr int64_t kDwLanesMaxWidth3x3 = 14;
inline constexpr int64_t kDwLanesMaxWidth5x5 = 14;
// 7x7 (ConvNeXt, 1 thread, both ISAs, in one run on a shared host): lanes ran 1.1-4x faster than rows
// on AVX-512 at every width from 3 to 56 (stride 1 and 2) and 1.4-11x on AVX2; at 112 wide the AVX-512
// paths ran even and the lanes tile outgrows L2, so the rows keep the widest maps.
inline constexpr int64_t kDwLanesMaxWidth7x7 = 56;
// The windows with vector kernels of their own: square 3x3 / 5x5 / 7x7 (the cost model gives each a
// class of its own, model/conv_kernel_class).
inline bool depthwise_window_has_vector_kernel(int64_t kh, int64_t kw) {
  return kh == kw && (kh == 3 || kh == 5 || kh == 7);
}
// Those windows at stride 1 or 2 without dilation: the shapes with vector kernels.
inline bool depthwise_has_vector_kernel(const ConvShape& s) {
  return s.dil_h == 1 && s.dil_w == 1 && depthwise_window_has_vector_kernel(s.kh, s.kw) && s.stride_h == s.stride_w &&
         (s.stride_w == 1 || s.stride_w == 2);
}
inline bool depthwise_uses_channel_lanes(const ConvShape& s) {
  const int64_t max_w = s.kh == 7 ? kDwLanesMaxWidth7x7 : s.kh == 5 ? kDwLanesMaxWidth5x5 : kDwLanesMaxWidth3x3;
  return depthwise_has_vector_kernel(s) && s.out_w() <= max_w;
}

// The zero-padded plane both paths compute from (the channel-lanes tile has the same extent): ph rows
// of pw floats, wide enough that every window of every output column lies inside the padded row. The
// cost model's features count the same bytes; inline for the same reason as the rule above.
struct DwPaddedPlane {
  int64_t oh, ow, ph, pw;
};
inline DwPaddedPlane depthwise_padded_plane(const ConvShape& s) {
  const int64_t ow = s.out_w();
  return {s.out_h(), ow, s.h + s.pad_top + s.pad_bottom,
          std::max<int64_t>(s.w + s.pad_left + s.pad_right, (ow - 1) * s.stride_w + (s.kw - 1) * s.dil_w + 1)};
}

// Tests and benchmarks force a path; kAuto follows depthwise_uses_channel_lanes(). Forcing channel
// lanes on a shape it does not support (other windows, dilation) throws hilsim::Error.
enum class DwPath { kAuto, kRows, kChannelLanes };
std::unique_ptr<PreparedConv> prepare_depthwise_conv(const ConvShape& shape, const float* w_oihw,
                                                     const float* bias_or_null, const Epilogue& ep, Isa isa,
                                                     DwPath path);

// The name prepare_depthwise_conv's kernel reports on a CPU running `isa`, without preparing one (the
// cost model names the kernel of another machine's profile): e.g. "depthwise_conv3x3_f32_dwconv_3x3s1_avx512".
std::string depthwise_conv_kernel_name(const ConvShape& shape, Isa isa);

// The vector row kernels' blocking, the same on AVX2 and AVX-512 so that the cost model's features need
// only the shape: kDwRowBlock output rows per step (their input rows are loaded once for all of them,
// and each row's accumulators are FMA chains of their own) by kDwRowLanes outputs of each row (two ymm,
// one zmm); a row's last step computes idle lanes past its end, a plane's last block fewer rows.
inline constexpr int64_t kDwRowBlock = 4;
inline constexpr int64_t kDwRowLanes = 16;

// Whether the rows path splits the padded plane into its even and odd columns (two planes of
// ceil(pw / 2) floats a row, each followed by kDwSplitGap floats), so that a stride-2 row kernel reads
// each tap with plain loads instead of gathering every other input: the stride-2 vector kernels, whose
// shuffles per tap cost more than the FMAs on AVX2, and on AVX-512 two loads and a permute per tap left
// the loads, not the FMAs, the bound (3x3: 0.39-0.46x oneDNN on 28-56 wide outputs, Zen 4).
inline bool depthwise_rows_split_columns(const ConvShape& s, Isa isa) {
  return (isa == Isa::kAvx2 || isa == Isa::kAvx512) && depthwise_has_vector_kernel(s) && s.stride_w == 2;
}
inline constexpr int64_t kDwSplitGap = 16;

// One output row of a depthwise conv from a zero-padded plane. `in` points at the padded input row of
// ky = 0 for this output row, `pw` is the padded row stride; out[ow] for ow in [0, ow_count). The
// padded rows must be readable up to 64 floats past the last window (vector over-read).
// One call computes `rows` output rows of one plane: row r reads the padded input from in + r * in_step
// and writes out + r * out_step. Kernels that keep several rows in flight share the input rows their
// windows overlap on.
struct DwRowArgs {
  const float* in;
  size_t pw;
  const float* w;  // kh * kw
  float bias;
  size_t ow_count;
  float* out;
  int kh, kw, stride_w, dil_h, dil_w;
  const Epilogue* ep;
  size_t rows = 1;
  size_t in_step = 0;   // floats: stride_h * pw
  size_t out_step = 0;  // floats: the output row length
  // Kernels reading split planes (depthwise_rows_split_columns): `in` and pw are the even-column plane's,
  // the odd-column plane starts odd_offset floats after it.
  size_t odd_offset = 0;
};
using DwRowFn = void (*)(const DwRowArgs& a);

// The `rows` loop of kernels that compute one output row at a time.
template <class OneRow>
inline void for_each_dw_row(const DwRowArgs& a, OneRow&& one_row) {
  DwRowArgs r = a;
  for (size_t i = 0; i < a.rows; ++i, r.in += a.in_step, r.out += a.out_step) one_row(r);
}

// One work item of the channel-lanes path: `channels` (<= kDwChannelLanes) consecutive NCHW planes of
// `in` (h x w each) -> the same planes of `out` (oh x ow each). `tile` is scratch of
// dw_lanes_tile_floats() floats whose border the caller zeroed once (kernels write only the interior
// and the output area after it). w: [kh * kw][lanes], bias: [lanes], zero past `channels`.
struct DwLanesArgs {
  const float* in;
  float* out;
  size_t channels;
  const float* w;
  const float* bias;
  float* tile;
  size_t h, w_in, pad_top, pad_left, ph, pw, oh, ow;
  int k, stride;
  const Epilogue* ep;
};
// The padded input tile plus the output tile (plus vector over-read slack).
size_t dw_lanes_tile_floats(const DwLanesArgs& a);

// The taps of output row oy that read the map rather than its zero border: window rows [0, K) in
// padded-tile row oy * S + ky must lie in [pad, pad + n). The same for columns. The lanes kernels skip
// the others (a 3x3 map under a 7x7 window has 9 real taps of 49 per output: ConvNeXt at 96x96).
struct DwTapRange {
  int lo, hi;
};
inline DwTapRange dw_tap_range(int64_t o, int stride, int k, int64_t pad, int64_t n) {
  const int64_t first = pad - o * stride;  // the first window position on the map
  return {static_cast<int>(std::clamp<int64_t>(first, 0, k)), static_cast<int>(std::clamp<int64_t>(first + n, 0, k))};
}
// Taps the lanes path computes per channel: those on the map (the cost model's lane count).
inline int64_t depthwise_lanes_taps(const ConvShape& s) {
  int64_t rows = 0, cols = 0;
  for (int64_t oy = 0; oy < s.out_h(); ++oy) {
    const DwTapRange r = dw_tap_range(oy, static_cast<int>(s.stride_h), static_cast<int>(s.kh), s.pad_top, s.h);
    rows += r.hi - r.lo;
  }
  for (int64_t ox = 0; ox < s.out_w(); ++ox) {
    const DwTapRange r = dw_tap_range(ox, static_cast<int>(s.stride_w), static_cast<int>(s.kw), s.pad_left, s.w);
    cols += r.hi - r.lo;
  }
  return rows * cols;
}
using DwLanesFn = void (*)(const DwLanesArgs& a);
void f32_dwconv_lanes_generic(const DwLanesArgs& a);
void f32_dwconv_row_generic(const DwRowArgs& a);
#if defined(__x86_64__)
void f32_dwconv_3x3s1_row_avx2(const DwRowArgs& a);
void f32_dwconv_3x3s2_row_avx2(const DwRowArgs& a);
void f32_dwconv_5x5s1_row_avx2(const DwRowArgs& a);
void f32_dwconv_5x5s2_row_avx2(const DwRowArgs& a);
void f32_dwconv_7x7s1_row_avx2(const DwRowArgs& a);
void f32_dwconv_7x7s2_row_avx2(const DwRowArgs& a);
void f32_dwconv_3x3s1_row_avx512(const DwRowArgs& a);
void f32_dwconv_3x3s2_row_avx512(const DwRowArgs& a);
void f32_dwconv_5x5s1_row_avx512(const DwRowArgs& a);
void f32_dwconv_5x5s2_row_avx512(const DwRowArgs& a);
void f32_dwconv_7x7s1_row_avx512(const DwRowArgs& a);
void f32_dwconv_7x7s2_row_avx512(const DwRowArgs& a);
void f32_dwconv_lanes_avx2(const DwLanesArgs& a);
void f32_dwconv_lanes_avx512(const DwLanesArgs& a);
// The rows path's copy into the padded plane: h rows of w floats from src (packed) to dst (row stride
// pw, dst at the interior's first float), the same bytes as memcpy per row without a call per row (on
// AVX2 the per-row calls cost a third of a 28- to 112-wide 3x3 layer's time).
void f32_dwconv_copy_rows_avx2(const float* src, size_t h, size_t w, float* dst, size_t pw);
// The same copy into split planes: input column x (padded column x + pad_left) to column
// (x + pad_left) / 2 of `even` or `odd` by its parity; both point at the first interior row, pwh is
// their row stride. Writes zeros up to 7 floats past each row's last column (the next row's border or
// columns it rewrites; the gap after each plane takes the last row's).
void f32_dwconv_split_rows_avx2(const float* src, size_t h, size_t w, size_t pad_left, float* even, float* odd,
                                size_t pwh);
// The same on AVX-512, 32 inputs a step: writes zeros up to 15 floats past each row's last column.
void f32_dwconv_split_rows_avx512(const float* src, size_t h, size_t w, size_t pad_left, float* even, float* odd,
                                  size_t pwh);
#endif

}  // namespace hilsim::kernels
