// Depthwise tester: 3x3 / 5x5 / 7x7, stride 1 / 2, odd pads, widths around the 16-lane vector, every
// epilogue, every ISA path, each shape through both the rows and the channel-lanes path; other depthwise
// shapes (9x9, dilation) through the portable row kernel.
#include "hilsim/kernels/depthwise_conv.h"

#include <gtest/gtest.h>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using namespace testing;  // the shared shapes, data and reference conv (kernel_test_util.h)

struct Param {
  Isa isa;
  ConvShape shape;
  int idx;
  DwPath path;
};

ConvShape dw(int64_t c, int64_t h, int64_t w, int64_t k, int64_t s, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
             int64_t d = 1) {
  ConvShape x;
  x.c = x.f = x.groups = c;
  x.h = h, x.w = w, x.kh = x.kw = k, x.stride_h = x.stride_w = s, x.dil_h = x.dil_w = d;
  x.pad_top = pt, x.pad_left = pl, x.pad_bottom = pb, x.pad_right = pr;
  return x;
}

std::vector<Param> params() {
  std::vector<ConvShape> shapes;
  for (int64_t k : {3, 5, 7})
    for (int64_t s : {1, 2})
      // Output heights cover every remainder of the AVX-512 kernel's blocks of four rows.
      for (int64_t hw : {1, 6, 7, 13, 40}) {
        const int64_t p = k / 2;
        if (hw + 2 * p < k) continue;
        shapes.push_back(dw(3, hw, hw == 40 ? 37 : hw, k, s, p, p, p, p));
      }
  shapes.push_back(dw(5, 13, 17, 3, 2, 0, 1, 1, 0));   // asymmetric (TF "same" with stride 2)
  shapes.push_back(dw(4, 12, 33, 5, 1, 2, 0, 1, 2));
  // Channel lanes: channel counts around the 16-lane group (2, 15, 17, 33), 1x1 and 7x7 maps, flattened
  // planes that end mid-vector, asymmetric pads, non-square maps.
  shapes.push_back(dw(17, 7, 7, 3, 1, 1, 1, 1, 1));
  shapes.push_back(dw(33, 7, 7, 5, 1, 2, 2, 2, 2));
  shapes.push_back(dw(15, 14, 14, 3, 2, 0, 0, 1, 1));
  shapes.push_back(dw(2, 14, 14, 5, 2, 2, 2, 2, 2));
  shapes.push_back(dw(16, 1, 1, 3, 1, 1, 1, 1, 1));
  shapes.push_back(dw(19, 1, 1, 5, 2, 2, 2, 2, 2));
  shapes.push_back(dw(21, 9, 5, 5, 1, 2, 1, 0, 3));
  shapes.push_back(dw(20, 11, 23, 3, 2, 1, 0, 0, 1));
  // ConvNeXt's 7x7 (pad 3) on its last stages' maps at 96 and 224, and odd 7x7 cases.
  shapes.push_back(dw(18, 3, 3, 7, 1, 3, 3, 3, 3));
  shapes.push_back(dw(33, 6, 6, 7, 1, 3, 3, 3, 3));
  shapes.push_back(dw(17, 14, 14, 7, 1, 3, 3, 3, 3));
  shapes.push_back(dw(5, 12, 29, 7, 2, 3, 2, 1, 3));
  shapes.push_back(dw(3, 9, 17, 7, 1, 0, 2, 3, 1));
  // 3x3 widths around the row kernels' 8-lane vectors and 16-output steps, MobileNetV2's 28 and 56, at
  // either stride, pad 0 and 1; heights 5 to 8 leave every remainder of the blocks of four output rows.
  for (int64_t w : {1, 2, 7, 9, 15, 17, 28, 56, 57})
    for (int64_t st : {1, 2})
      for (int64_t p : {0, 1}) {
        if (w + 2 * p < 3) continue;
        shapes.push_back(dw(3, 5 + w % 4, w, 3, st, p, p, p, p));
      }
  // Two channels (one is no depthwise conv: groups > 1); 10 output rows, two past two row blocks;
  // stride-2 split planes with odd and even left pads, widths 1, 3 and 18.
  for (int64_t k : {3, 5})
    for (int64_t pl : {0, 1, 2})
      for (int64_t w : {1, 3, 18}) {
        if (w + pl + 1 < k) continue;
        shapes.push_back(dw(2, 19, w, k, 2, k / 2, pl, k / 2, 1));
      }
  shapes.push_back(dw(2, 17, 5, 3, 1, 0, 1, 0, 1));
  shapes.push_back(dw(2, 2, 33, 3, 2, 1, 1, 1, 1));
  const size_t n_lanes_able = shapes.size();
  shapes.push_back(dw(2, 13, 13, 3, 1, 2, 2, 2, 2, 2));  // dilation 2: portable path
  shapes.push_back(dw(2, 13, 13, 9, 1, 4, 4, 4, 4));     // 9x9: portable path
  std::vector<Param> v;
  int i = 0;
  for (Isa isa : supported_isas())
    for (size_t k = 0; k < shapes.size(); ++k) {
      v.push_back({isa, shapes[k], i++, DwPath::kRows});
      if (k < n_lanes_able) v.push_back({isa, shapes[k], i++, DwPath::kChannelLanes});
    }
  return v;
}

class DepthwiseConvTest : public ::testing::TestWithParam<Param> {};

TEST_P(DepthwiseConvTest, MatchesReference) {
  const Param& p = GetParam();
  ConvShape s = p.shape;
  s.n = p.idx % 3 == 0 ? 2 : 1;
  const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), 7 + p.idx);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 70 + p.idx);
  const auto bias = random_floats(static_cast<size_t>(s.f), 170 + p.idx);
  ThreadPool pool1(1), pool2(2);
  const auto eps = all_epilogues();
  for (size_t e = 0; e < eps.size(); ++e) {
    const float* b = (e % 2) ? nullptr : bias.data();
    auto conv = prepare_depthwise_conv(s, w.data(), b, eps[e], p.isa, p.path);
    std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
    conv->run(in.data(), out.data(), (e % 2) ? pool1 : pool2);
    EXPECT_LT(rel_error(out, conv_ref(s, in, w, b, eps[e])), 1e-4)
        << s.str() << " act=" << act_name(eps[e].act) << " kernel=" << conv->kernel_name();
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseConvTest, ::testing::ValuesIn(params()), [](const auto& info) {
  return std::string(isa_name(info.param.isa)) + (info.param.path == DwPath::kChannelLanes ? "_lanes_" : "_rows_") +
         std::to_string(info.param.idx);
});

#if defined(__x86_64__)
// The split copy puts padded column j of each row into column j / 2 of the even or odd plane and
// leaves every border zero, for each left pad parity and widths around its 16-input steps; what it
// writes past a row stays inside the gap after each plane.
TEST(DepthwiseConv, SplitRowsMatchPaddedPlane) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2";
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512})
  for (size_t w : {1, 2, 7, 15, 16, 17, 31, 33, 47, 63, 64, 65})
    for (size_t pl : {0, 1, 2, 3}) {
      if (!isa_supported(isa)) continue;
      const auto split = isa == Isa::kAvx512 ? &f32_dwconv_split_rows_avx512 : &f32_dwconv_split_rows_avx2;
      const size_t h = 3, pt = 1, pw_full = w + pl + 2, pwh = (pw_full + 1) / 2, ph = h + 2;
      const size_t odd = ph * pwh + static_cast<size_t>(kDwSplitGap);
      std::vector<float> buf(2 * odd, 0.0f);
      const auto src = random_floats(h * w, static_cast<uint32_t>(w * 7 + pl));
      split(src.data(), h, w, pl, buf.data() + pt * pwh, buf.data() + pt * pwh + odd, pwh);
      for (size_t y = 0; y < ph; ++y)
        for (size_t j = 0; j < 2 * pwh; ++j) {
          const bool on_map = y >= pt && y < pt + h && j >= pl && j < pl + w;
          const float want = on_map ? src[(y - pt) * w + j - pl] : 0.0f;
          EXPECT_EQ(buf[(j & 1) * odd + y * pwh + j / 2], want)
              << isa_name(isa) << " w=" << w << " pl=" << pl << " y=" << y << " j=" << j;
        }
      for (size_t i = ph * pwh; i < odd; ++i) EXPECT_EQ(buf[i], 0.0f) << "gap, w=" << w << " pl=" << pl;
    }
}
#endif

TEST(DepthwiseConv, RejectsNonDepthwise) {
  ConvShape s = dw(4, 7, 7, 3, 1, 1, 1, 1, 1);
  s.groups = 2;
  const std::vector<float> w(static_cast<size_t>(s.weight_count()));
  EXPECT_THROW(prepare_depthwise_conv(s, w.data(), nullptr, {}), Error);
}

// The pure name (what the cost model reports for another machine) is the prepared kernel's, on every
// path this CPU runs, for shapes with and without a vector row kernel.
TEST(DepthwiseConv, KernelNameWithoutPreparing) {
  const std::vector<ConvShape> shapes = {conv_shape(8, 8, 12, 12, 3, 1, 1, 1, 1, 1, 1, 8),
                                         conv_shape(8, 8, 12, 12, 3, 2, 1, 1, 1, 1, 1, 8),
                                         conv_shape(8, 8, 12, 12, 5, 1, 2, 2, 2, 2, 1, 8),
                                         conv_shape(8, 8, 12, 12, 5, 2, 2, 2, 2, 2, 1, 8),
                                         conv_shape(8, 8, 12, 12, 3, 1, 2, 2, 2, 2, 2, 8),
                                         conv_shape(8, 8, 12, 12, 3, 3, 1, 1, 1, 1, 1, 8),
                                         conv_shape(8, 8, 12, 12, 7, 1, 3, 3, 3, 3, 1, 8),
                                         conv_shape(8, 8, 70, 70, 7, 1, 3, 3, 3, 3, 1, 8),
                                         conv_shape(8, 8, 130, 130, 7, 2, 3, 3, 3, 3, 1, 8)};
  for (const ConvShape& s : shapes) {
    const std::vector<float> w = random_floats(static_cast<size_t>(s.weight_count()), 5);
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + s.str());
      EXPECT_EQ(depthwise_conv_kernel_name(s, isa), prepare_depthwise_conv(s, w.data(), nullptr, {}, isa)->kernel_name());
    }
  }
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[1], Isa::kAvx2), "depthwise_conv3x3_f32_dwconv_3x3s2_c16_avx2");
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[4], Isa::kAvx512), "depthwise_conv3x3_f32_dwconv_row_generic");
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[6], Isa::kAvx512), "depthwise_conv7x7_f32_dwconv_7x7s1_c16_avx512");
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[7], Isa::kAvx2), "depthwise_conv7x7_f32_dwconv_7x7s1_avx2");
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[8], Isa::kAvx512), "depthwise_conv7x7_f32_dwconv_7x7s2_avx512");
  const ConvShape wide = conv_shape(8, 8, 56, 56, 3, 2, 1, 1, 1, 1, 1, 8);
  EXPECT_EQ(depthwise_conv_kernel_name(wide, Isa::kAvx2), "depthwise_conv3x3_f32_dwconv_3x3s2_avx2");
  // A forced path names itself, not the rule's choice.
  const std::vector<float> w = random_floats(static_cast<size_t>(wide.weight_count()), 5);
  EXPECT_EQ(prepare_depthwise_conv(wide, w.data(), nullptr, {}, Isa::kGeneric, DwPath::kChannelLanes)->kernel_name(),
            "depthwise_conv3x3_f32_dwconv_3x3s2_c16_generic");
  EXPECT_EQ(prepare_depthwise_conv(shapes[0], w.data(), nullptr, {}, Isa::kGeneric, DwPath::kRows)->kernel_name(),
            "depthwise_conv3x3_f32_dwconv_row_generic");
}

// The rule: output width by window (3x3 up to 7 wide, 5x5 up to 14, 7x7 up to 56) at either stride; other windows
// and dilation never take lanes.
TEST(DepthwiseConv, ChannelLanesRule) {
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(960, 7, 7, 3, 1, 1, 1, 1, 1)));
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(576, 14, 14, 3, 2, 1, 1, 1, 1)));  // 7 wide out
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(672, 14, 14, 5, 1, 2, 2, 2, 2)));
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(672, 28, 28, 5, 2, 2, 2, 2, 2)));  // 14 wide out
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(384, 14, 14, 3, 1, 1, 1, 1, 1)));
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(192, 28, 28, 3, 2, 1, 1, 1, 1)));  // 14 wide out
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(192, 28, 28, 3, 1, 1, 1, 1, 1)));  // 28 wide out
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(240, 28, 28, 5, 1, 2, 2, 2, 2)));
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(96, 112, 112, 3, 2, 1, 1, 1, 1)));
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(1024, 7, 7, 7, 1, 3, 3, 3, 3)));  // ConvNeXt's last stage
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(512, 14, 14, 7, 1, 3, 3, 3, 3)));
  EXPECT_TRUE(depthwise_uses_channel_lanes(dw(128, 56, 56, 7, 1, 3, 3, 3, 3)));
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(64, 112, 112, 7, 1, 3, 3, 3, 3)));
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(8, 7, 7, 9, 1, 4, 4, 4, 4)));
  EXPECT_FALSE(depthwise_uses_channel_lanes(dw(8, 7, 7, 3, 1, 2, 2, 2, 2, 2)));
  // Split planes only where AVX2 runs a stride-2 vector row kernel.
  EXPECT_TRUE(depthwise_rows_split_columns(dw(96, 112, 112, 3, 2, 1, 1, 1, 1), Isa::kAvx2));
  EXPECT_TRUE(depthwise_rows_split_columns(dw(96, 112, 112, 3, 2, 1, 1, 1, 1), Isa::kAvx512));
  EXPECT_FALSE(depthwise_rows_split_columns(dw(96, 112, 112, 3, 2, 1, 1, 1, 1), Isa::kGeneric));
  EXPECT_FALSE(depthwise_rows_split_columns(dw(96, 112, 112, 3, 1, 1, 1, 1, 1), Isa::kAvx2));
  EXPECT_FALSE(depthwise_rows_split_columns(dw(8, 13, 13, 9, 2, 4, 4, 4, 4), Isa::kAvx2));
  const ConvShape k9 = dw(8, 7, 7, 9, 1, 4, 4, 4, 4);
  const std::vector<float> w(static_cast<size_t>(k9.weight_count()));
  EXPECT_THROW(prepare_depthwise_conv(k9, w.data(), nullptr, {}, Isa::kGeneric, DwPath::kChannelLanes), Error);
}

}  // namespace
}  // namespace hilsim::kernels
