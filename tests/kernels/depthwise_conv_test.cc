// Depthwise tester: 3x3 / 5x5, stride 1 / 2, odd pads, widths around the 16-lane vector, every epilogue,
// every ISA path; other depthwise shapes (7x7, dilation) through the portable row kernel.
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
  for (int64_t k : {3, 5})
    for (int64_t s : {1, 2})
      // Output heights cover every remainder of the AVX-512 kernel's blocks of four rows.
      for (int64_t hw : {1, 6, 7, 13, 40}) {
        const int64_t p = k / 2;
        if (hw + 2 * p < k) continue;
        shapes.push_back(dw(3, hw, hw == 40 ? 37 : hw, k, s, p, p, p, p));
      }
  shapes.push_back(dw(5, 13, 17, 3, 2, 0, 1, 1, 0));   // asymmetric (TF "same" with stride 2)
  shapes.push_back(dw(4, 12, 33, 5, 1, 2, 0, 1, 2));
  shapes.push_back(dw(2, 13, 13, 3, 1, 2, 2, 2, 2, 2));  // dilation 2: portable path
  shapes.push_back(dw(2, 13, 13, 7, 1, 3, 3, 3, 3));     // 7x7: portable path
  std::vector<Param> v;
  int i = 0;
  for (Isa isa : supported_isas())
    for (const auto& s : shapes) v.push_back({isa, s, i++});
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
    auto conv = prepare_depthwise_conv(s, w.data(), b, eps[e], p.isa);
    std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
    conv->run(in.data(), out.data(), (e % 2) ? pool1 : pool2);
    EXPECT_LT(rel_error(out, conv_ref(s, in, w, b, eps[e])), 1e-4)
        << s.str() << " act=" << act_name(eps[e].act) << " kernel=" << conv->kernel_name();
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseConvTest, ::testing::ValuesIn(params()), [](const auto& info) {
  return std::string(isa_name(info.param.isa)) + "_" + std::to_string(info.param.idx);
});

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
                                         conv_shape(8, 8, 12, 12, 3, 3, 1, 1, 1, 1, 1, 8)};
  for (const ConvShape& s : shapes) {
    const std::vector<float> w = random_floats(static_cast<size_t>(s.weight_count()), 5);
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + s.str());
      EXPECT_EQ(depthwise_conv_kernel_name(s, isa), prepare_depthwise_conv(s, w.data(), nullptr, {}, isa)->kernel_name());
    }
  }
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[1], Isa::kAvx2), "depthwise_conv3x3_f32_dwconv_3x3s2_avx2");
  EXPECT_EQ(depthwise_conv_kernel_name(shapes[4], Isa::kAvx512), "depthwise_conv3x3_f32_dwconv_row_generic");
}

}  // namespace
}  // namespace hilsim::kernels
