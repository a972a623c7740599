#include "hilsim/kernels/depthwise_conv.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

// Vector kernels may read up to one 32-float load past the last window of the last row.
constexpr size_t kOverread = 64;

// Which vector row kernel a shape runs (3s1, 3s2, 5s1, 5s2, 7s1, 7s2), -1 for the portable one: the
// one rule behind both the prepared kernel and its name.
int vector_row_index(const ConvShape& s) {
  if (!depthwise_has_vector_kernel(s)) return -1;
  return static_cast<int>(s.kh / 2 - 1) * 2 + (s.stride_w == 2 ? 1 : 0);
}

std::string kernel_name_of(const ConvShape& s, Isa isa, bool lanes) {
  const std::string base = "depthwise_conv" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + "_";
  const int i = vector_row_index(s);
  static const char* const rows[6] = {"3x3s1", "3x3s2", "5x5s1", "5x5s2", "7x7s1", "7x7s2"};
  if (lanes) return base + "f32_dwconv_" + rows[i] + "_c16_" + isa_name(isa);
  if (isa == Isa::kGeneric || i < 0) return base + "f32_dwconv_row_generic";
  return base + "f32_dwconv_" + rows[i] + "_" + isa_name(isa);
}

DwLanesArgs lanes_geometry(const ConvShape& s) {
  const DwPaddedPlane pp = depthwise_padded_plane(s);
  DwLanesArgs a{};
  a.h = static_cast<size_t>(s.h), a.w_in = static_cast<size_t>(s.w);
  a.pad_top = static_cast<size_t>(s.pad_top), a.pad_left = static_cast<size_t>(s.pad_left);
  a.ph = static_cast<size_t>(pp.ph), a.pw = static_cast<size_t>(pp.pw);
  a.oh = static_cast<size_t>(pp.oh), a.ow = static_cast<size_t>(pp.ow);
  a.k = static_cast<int>(s.kh), a.stride = static_cast<int>(s.stride_h);
  return a;
}

// What both paths keep: their packed weights and biases, the epilogue, and which kernel they name.
class DepthwiseBase : public PreparedConv {
 public:
  std::string kernel_name() const override { return kernel_name_of(shape_, isa_, lanes_); }
  int64_t weight_bytes() const override { return static_cast<int64_t>((w_.size() + bias_.size()) * sizeof(float)); }
  int64_t executed_macs() const override { return shape_.macs(); }

 protected:
  DepthwiseBase(const ConvShape& s, const Epilogue& ep, Isa isa, bool lanes)
      : PreparedConv(s), ep_(ep), isa_(isa), lanes_(lanes) {}
  std::vector<float> w_, bias_;
  Epilogue ep_;
  Isa isa_;  // the ISA of the kernel that runs (the rows path: generic where no vector row fits)
  bool lanes_;
};

// The channel-lanes path: weights regrouped [group][tap][lane], zero past the last channel (the
// partial last group's zero lanes count in weight_bytes).
class DepthwiseLanesConv final : public DepthwiseBase {
 public:
  DepthwiseLanesConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, Isa isa)
      : DepthwiseBase(s, ep, isa, true) {
    constexpr size_t L = kDwChannelLanes;
    const size_t groups = static_cast<size_t>((s.c + kDwChannelLanes - 1) / kDwChannelLanes);
    const size_t taps = static_cast<size_t>(s.kh * s.kw);
    w_.assign(groups * taps * L, 0.0f);
    bias_.assign(groups * L, 0.0f);
    for (size_t ch = 0; ch < static_cast<size_t>(s.c); ++ch) {
      for (size_t t = 0; t < taps; ++t) w_[((ch / L) * taps + t) * L + ch % L] = w[ch * taps + t];
      if (bias) bias_[ch] = bias[ch];
    }
    fn_ = &f32_dwconv_lanes_generic;
#if defined(__x86_64__)
    if (isa == Isa::kAvx512) fn_ = &f32_dwconv_lanes_avx512;
    if (isa == Isa::kAvx2) fn_ = &f32_dwconv_lanes_avx2;
#endif
  }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    const ConvShape& s = shape_;
    const size_t L = kDwChannelLanes;
    const size_t groups = static_cast<size_t>((s.c + kDwChannelLanes - 1) / kDwChannelLanes);
    const size_t taps = static_cast<size_t>(s.kh * s.kw);
    const DwLanesArgs geo = lanes_geometry(s);
    const size_t hw = geo.h * geo.w_in, ohw = geo.oh * geo.ow;
    pool.parallel_for(static_cast<size_t>(s.n) * groups, [&](size_t b0, size_t b1) {
      static thread_local std::vector<float> tile;
      // Border zeros stay from assign(); every group rewrites only the interior and the output tile.
      tile.assign(dw_lanes_tile_floats(geo), 0.0f);
      for (size_t item = b0; item < b1; ++item) {
        const size_t n = item / groups, g = item % groups;
        const size_t c0 = g * L;
        DwLanesArgs a = geo;
        a.channels = std::min(L, static_cast<size_t>(s.c) - c0);
        a.in = in + (n * static_cast<size_t>(s.c) + c0) * hw;
        a.out = out + (n * static_cast<size_t>(s.c) + c0) * ohw;
        a.w = w_.data() + g * taps * L;
        a.bias = bias_.data() + g * L;
        a.tile = tile.data();
        a.ep = &ep_;
        fn_(a);
      }
    });
  }

 private:
  DwLanesFn fn_;
};

class DepthwiseConv final : public DepthwiseBase {
 public:
  DepthwiseConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, Isa isa)
      : DepthwiseBase(s, ep, Isa::kGeneric, false) {
    w_.assign(w, w + s.weight_count());
    bias_.assign(static_cast<size_t>(s.c), 0.0f);
    if (bias) std::copy(bias, bias + s.c, bias_.begin());
    row_ = &f32_dwconv_row_generic;
#if defined(__x86_64__)
    // One row kernel per (kernel size, stride) the vector paths have, in vector_row_index's order.
    static const DwRowFn avx512[6] = {&f32_dwconv_3x3s1_row_avx512, &f32_dwconv_3x3s2_row_avx512,
                                      &f32_dwconv_5x5s1_row_avx512, &f32_dwconv_5x5s2_row_avx512,
                                      &f32_dwconv_7x7s1_row_avx512, &f32_dwconv_7x7s2_row_avx512};
    static const DwRowFn avx2[6] = {&f32_dwconv_3x3s1_row_avx2, &f32_dwconv_3x3s2_row_avx2,
                                    &f32_dwconv_5x5s1_row_avx2, &f32_dwconv_5x5s2_row_avx2,
                                    &f32_dwconv_7x7s1_row_avx2, &f32_dwconv_7x7s2_row_avx2};
    const DwRowFn* rows = isa == Isa::kAvx512 ? avx512 : isa == Isa::kAvx2 ? avx2 : nullptr;
    const int i = vector_row_index(s);
    if (rows && i >= 0) {
      row_ = rows[i];
      isa_ = isa;
    }
    if (isa == Isa::kAvx2) copy_rows_ = &f32_dwconv_copy_rows_avx2;
    if (rows && i >= 0 && depthwise_rows_split_columns(s, isa))
      split_rows_ = isa == Isa::kAvx512 ? &f32_dwconv_split_rows_avx512 : &f32_dwconv_split_rows_avx2;
    split_ = split_rows_ != nullptr;
#else
    (void)isa;
#endif
  }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    const ConvShape& s = shape_;
    const DwPaddedPlane pp = depthwise_padded_plane(s);
    const int64_t OH = pp.oh, OW = pp.ow;
    const size_t ph = static_cast<size_t>(pp.ph);
    // Split planes: the even columns' plane, a gap, the odd columns' plane; pw is then their row stride.
    const size_t pw = split_ ? static_cast<size_t>(pp.pw + 1) / 2 : static_cast<size_t>(pp.pw);
    const size_t odd = split_ ? ph * pw + static_cast<size_t>(kDwSplitGap) : 0;
    const size_t scratch = split_ ? 2 * odd : ph * pw;
    const size_t khw = static_cast<size_t>(s.kh * s.kw);
    pool.parallel_for(static_cast<size_t>(s.n * s.c), [&](size_t b0, size_t b1) {
      static thread_local std::vector<float> pad;
      pad.assign(scratch + kOverread, 0.0f);
      for (size_t plane = b0; plane < b1; ++plane) {
        const int64_t ch = static_cast<int64_t>(plane) % s.c;
        const float* src = in + plane * static_cast<size_t>(s.h * s.w);
        // Border zeros stay from assign(); only the interior is rewritten per plane.
        float* top = pad.data() + static_cast<size_t>(s.pad_top) * pw;
        if (split_rows_) {
          split_rows_(src, static_cast<size_t>(s.h), static_cast<size_t>(s.w), static_cast<size_t>(s.pad_left), top,
                      top + odd, pw);
        } else if (copy_rows_) {
          copy_rows_(src, static_cast<size_t>(s.h), static_cast<size_t>(s.w), top + s.pad_left, pw);
        } else {
          for (int64_t y = 0; y < s.h; ++y)
            std::memcpy(top + y * pw + s.pad_left, src + y * s.w, static_cast<size_t>(s.w) * sizeof(float));
        }
        DwRowArgs a;
        a.pw = pw;
        a.odd_offset = odd;
        a.w = w_.data() + ch * khw;
        a.bias = bias_[static_cast<size_t>(ch)];
        a.ow_count = static_cast<size_t>(OW);
        a.kh = static_cast<int>(s.kh);
        a.kw = static_cast<int>(s.kw);
        a.stride_w = static_cast<int>(s.stride_w);
        a.dil_h = static_cast<int>(s.dil_h);
        a.dil_w = static_cast<int>(s.dil_w);
        a.ep = &ep_;
        a.in_step = static_cast<size_t>(s.stride_h) * pw;
        a.out_step = static_cast<size_t>(OW);
        // Whole plane in one call: a kernel blocks its rows as its registers allow. (Copying and computing
        // chunks of 8 output rows in turn, so that the copy's loads might overlap the FMAs, measured no
        // faster at 112 wide and slower at 28.)
        a.in = pad.data();
        a.out = out + plane * static_cast<size_t>(OH * OW);
        a.rows = static_cast<size_t>(OH);
        row_(a);
      }
    });
  }

 private:
  DwRowFn row_;
  // The padded plane's copy: memcpy per row where null.
  void (*copy_rows_)(const float*, size_t, size_t, float*, size_t) = nullptr;
  // The split copy where the row kernel reads split planes (depthwise_rows_split_columns), else null.
  void (*split_rows_)(const float*, size_t, size_t, size_t, float*, float*, size_t) = nullptr;
  bool split_ = false;
};

}  // namespace

size_t dw_lanes_tile_floats(const DwLanesArgs& a) {
  return (a.ph * a.pw + a.oh * a.ow) * static_cast<size_t>(kDwChannelLanes) + kOverread;
}

std::string depthwise_conv_kernel_name(const ConvShape& s, Isa isa) {
  return kernel_name_of(s, isa, depthwise_uses_channel_lanes(s));
}

std::unique_ptr<PreparedConv> prepare_depthwise_conv(const ConvShape& shape, const float* w, const float* bias,
                                                     const Epilogue& ep, Isa isa) {
  return prepare_depthwise_conv(shape, w, bias, ep, isa, DwPath::kAuto);
}

std::unique_ptr<PreparedConv> prepare_depthwise_conv(const ConvShape& shape, const float* w, const float* bias,
                                                     const Epilogue& ep, Isa isa, DwPath path) {
  shape.validate();
  if (!shape.is_depthwise()) throw Error("conv " + shape.str() + ": field 'groups'", "depthwise needs groups == c == f");
  if (!w) throw Error("conv " + shape.str() + ": field 'weights'", "null pointer");
  if (!isa_supported(isa)) throw Error("isa", std::string("this CPU cannot run the ") + isa_name(isa) + " path");
  if (path == DwPath::kChannelLanes && vector_row_index(shape) < 0)
    throw Error("conv " + shape.str() + ": field 'kernel_shape'",
                "not supported yet: the channel-lanes depthwise path takes square 3x3/5x5/7x7 windows at stride 1 or 2 without dilation");
  const bool lanes = path == DwPath::kChannelLanes || (path == DwPath::kAuto && depthwise_uses_channel_lanes(shape));
  if (lanes) return std::make_unique<DepthwiseLanesConv>(shape, w, bias, ep, isa);
  return std::make_unique<DepthwiseConv>(shape, w, bias, ep, isa);
}

}  // namespace hilsim::kernels
