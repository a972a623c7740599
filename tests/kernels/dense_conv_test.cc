// Dense convolution tester: every ISA path this CPU has x awkward shapes x every epilogue, against the
// naive loop of kernel_test_util.h.
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/dense_tiling.h"

#include <gtest/gtest.h>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using namespace testing;  // the shared shapes, data and reference conv (kernel_test_util.h)

// Small planes that run pixels as the tile's rows (kernels/dense_tiling).
std::vector<ConvShape> pixel_rows_cases() {
  return {
      conv_shape(600, 70, 6, 6, 1, 1, 0, 0, 0, 0),          // 36 pixels, two K blocks, a 6-filter half tile
      conv_shape(40, 50, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2),  // 9 pixels (a thin 1-row tile), batch 2
      conv_shape(64, 96, 5, 5, 3, 1, 1, 1, 1, 1),           // 3x3 on a 5x5 plane, padded
      conv_shape(64, 128, 6, 6, 3, 1, 1, 1, 1, 1, 1, 2),    // grouped: 64 filters a group
      conv_shape(48, 40, 6, 6, 1, 2, 0, 0, 0, 0),           // 1x1 stride 2 onto 3x3
      conv_shape(30, 36, 8, 7, 3, 2, 2, 1, 0, 2, 2),        // dilation 2, stride 2, asymmetric pads
      conv_shape(192, 48, 6, 6, 3, 1, 1, 1, 1, 1),          // DenseNet-161's late 3x3: split by pixel tiles
  };
}

TEST(DenseConv, PixelRowsCasesRunThatPath) {
  for (const ConvShape& s : pixel_rows_cases()) EXPECT_TRUE(dense_tiling(s).pixel_rows) << s.str();
}

// C and F off the 8-row tile, H/W in {1, 7, 13, 40}, strides, asymmetric pads, dilation, groups, batch.
std::vector<ConvShape> cases() {
  std::vector<ConvShape> v = {
      conv_shape(3, 5, 1, 1, 1, 1, 0, 0, 0, 0),
      conv_shape(37, 70, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 3),  // 1x1 on a 1x1 map, batch 3: runs as a GEMM
      conv_shape(13, 19, 7, 7, 1, 1, 0, 0, 0, 0),
      conv_shape(17, 33, 13, 13, 1, 2, 0, 0, 0, 0),         // 1x1 stride 2 (ResNet downsample)
      conv_shape(9, 12, 40, 40, 1, 1, 0, 0, 0, 0),          // several whole strips
      conv_shape(11, 13, 10, 10, 3, 1, 1, 1, 1, 1),         // tail strip of 4 columns (the 16-wide tile)
      conv_shape(6, 9, 4, 4, 3, 1, 1, 1, 1, 1),             // one strip of exactly 16 columns
      conv_shape(300, 20, 7, 7, 1, 1, 0, 0, 0, 0),          // K above one cache block
      conv_shape(5, 7, 13, 13, 3, 1, 1, 1, 1, 1),
      conv_shape(6, 10, 13, 7, 3, 2, 0, 1, 1, 0),           // asymmetric pads, stride 2, non-square
      conv_shape(4, 9, 7, 13, 3, 1, 2, 0, 1, 2, 2),         // dilation 2
      conv_shape(8, 16, 13, 13, 3, 1, 1, 1, 1, 1, 1, 4),    // groups
      conv_shape(6, 6, 7, 7, 3, 1, 1, 1, 1, 1, 1, 3),       // 2 channels per group
      conv_shape(3, 11, 40, 40, 6, 2, 2, 2, 2, 2),          // YOLOv5 stem
      conv_shape(3, 10, 37, 37, 7, 2, 3, 3, 3, 3),          // ResNet stem: strips cross rows, pads both sides
      conv_shape(2, 9, 11, 19, 5, 2, 4, 1, 0, 3),           // stride 2, pads wider than half the kernel
      conv_shape(40, 17, 13, 13, 5, 1, 2, 2, 2, 2),         // K = 1000: four K blocks
      conv_shape(7, 9, 1, 1, 3, 1, 1, 1, 1, 1),             // 1x1 image, 3x3 kernel: only the centre tap
      conv_shape(5, 8, 7, 7, 3, 1, 1, 1, 1, 1, 1, 1, 2),    // batch 2
      conv_shape(40, 30, 7, 7, 3, 1, 1, 1, 1, 1),           // a 17-pixel tail on the whole tile
      conv_shape(12, 64, 13, 13, 3, 2, 1, 1, 1, 1),         // stride 2 onto 7x7
      conv_shape(5, 32, 1, 17, 3, 1, 1, 1, 1, 1, 1, 1, 2),  // 17 pixels in one row, batch 2
      conv_shape(600, 64, 7, 7, 1, 1, 0, 0, 0, 0),          // 1x1, two K blocks of 300
      // Row strips (3x3 stride 1, out_w a multiple of 16; implicit GEMM on every ISA): half-tile rows,
      // 32 + 16, pads on one side only, no pads, a single row, K = 576 in one pass, groups, batch 2,
      // one channel and 3 filters (a filter tile of 3 rows), 32 + 32 + 16 with a last tile of 5 filters.
      conv_shape(5, 13, 9, 16, 3, 1, 1, 1, 1, 1),
      conv_shape(7, 9, 6, 48, 3, 1, 1, 1, 1, 1, 1, 1, 2),
      conv_shape(6, 11, 7, 16, 3, 1, 0, 2, 2, 0),
      conv_shape(3, 8, 10, 34, 3, 1, 0, 0, 0, 0),
      conv_shape(4, 8, 1, 32, 3, 1, 1, 1, 1, 1),
      conv_shape(64, 10, 4, 16, 3, 1, 1, 1, 1, 1),
      conv_shape(65, 10, 4, 16, 3, 1, 1, 1, 1, 1),  // one channel over: flattened strips again
      conv_shape(8, 16, 5, 32, 3, 1, 1, 1, 1, 1, 1, 2, 2),
      conv_shape(1, 3, 2, 16, 3, 1, 1, 1, 1, 1),
      conv_shape(33, 21, 5, 80, 3, 1, 1, 1, 1, 1),
  };
  ConvShape ns = conv_shape(4, 6, 7, 9, 3, 1, 1, 0, 1, 2);  // different strides per axis
  ns.stride_w = 2;
  ns.kw = 2;
  v.push_back(ns);
  for (const ConvShape& s : pixel_rows_cases()) v.push_back(s);
  return v;
}

struct Param {
  Isa isa;
  ConvShape shape;
  int idx;
};

class DenseConvTest : public ::testing::TestWithParam<Param> {};

TEST_P(DenseConvTest, MatchesReference) {
  const Param& p = GetParam();
  const ConvShape& s = p.shape;
  const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), 1 + p.idx);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 100 + p.idx, -0.5f, 0.5f);
  const auto bias = random_floats(static_cast<size_t>(s.f), 200 + p.idx);
  ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  const auto eps = all_epilogues();
  // Every epilogue on every shape, cycling 1, 2 and 3 threads (3: uneven work splits), bias / no bias.
  for (size_t e = 0; e < eps.size(); ++e) {
    const float* b = (e % 2) ? bias.data() : nullptr;
    auto conv = prepare_dense_conv(s, w.data(), b, eps[e], p.isa);
    std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
    conv->run(in.data(), out.data(), pools[e % 3]);
    EXPECT_LT(rel_error(out, conv_ref(s, in, w, b, eps[e])), 1e-4)
        << s.str() << " act=" << act_name(eps[e].act) << " kernel=" << conv->kernel_name();
  }
}

std::vector<Param> params() {
  std::vector<Param> v;
  int i = 0;
  for (Isa isa : supported_isas())
    for (const auto& s : cases()) v.push_back({isa, s, i++});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseConvTest, ::testing::ValuesIn(params()), [](const auto& info) {
  return std::string(isa_name(info.param.isa)) + "_" + std::to_string(info.param.idx);
});

TEST(DenseConv, KernelNameSaysWhatRuns) {
  const ConvShape s = conv_shape(8, 8, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 3);
  for (Isa isa : supported_isas()) {
    auto conv = prepare_dense_conv(s, w.data(), nullptr, {}, isa);
    EXPECT_NE(conv->kernel_name().find("dense_conv3x3"), std::string::npos);
    EXPECT_EQ(conv->executed_macs(), s.macs());
    EXPECT_GT(conv->weight_bytes(), 0);
  }
}

TEST(DenseConv, DepthwiseShapesGoToTheDepthwiseKernel) {
  const ConvShape s = conv_shape(16, 16, 13, 13, 3, 1, 1, 1, 1, 1, 1, 16);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 4);
  auto conv = prepare_dense_conv(s, w.data(), nullptr, {});
  EXPECT_NE(conv->kernel_name().find("depthwise"), std::string::npos);
}

TEST(DenseConv, BadShapeNamesTheField) {
  ConvShape s = conv_shape(6, 8, 7, 7, 3, 1, 1, 1, 1, 1, 1, 4);  // groups does not divide c
  const std::vector<float> w(64 * 9);
  try {
    prepare_dense_conv(s, w.data(), nullptr, {});
    FAIL() << "expected hilsim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("groups"), std::string::npos);
  }
}

// The cost model names another machine's kernel without preparing it: the pure name must be the
// prepared kernel's on every path this CPU runs.
TEST(DenseConv, KernelNameWithoutPreparing) {
  for (int64_t k : {1, 3, 7, 30}) {  // 30: 3x3 on row strips (out_w 16)
    const ConvShape s = k == 30 ? conv_shape(8, 16, 9, 16, 3, 1, 1, 1, 1, 1) : conv_shape(8, 16, 9, 9, k, 1, k / 2, k / 2, k / 2, k / 2);
    const std::vector<float> w = random_floats(static_cast<size_t>(s.weight_count()), 3);
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " k" + std::to_string(k));
      EXPECT_EQ(dense_conv_kernel_name(s, isa), prepare_dense_conv(s, w.data(), nullptr, {}, isa)->kernel_name());
    }
  }
  EXPECT_EQ(dense_conv_kernel_name(conv_shape(8, 16, 9, 9, 3, 1, 1, 1, 1, 1), Isa::kAvx512),
            "dense_conv3x3_f32_gemm_8x32_avx512");
  EXPECT_EQ(dense_conv_kernel_name(conv_shape(8, 16, 9, 16, 3, 1, 1, 1, 1, 1), Isa::kAvx512),
            "dense_conv3x3_f32_igemm_8x32_avx512");
  EXPECT_EQ(dense_conv_kernel_name(conv_shape(8, 16, 9, 16, 3, 1, 1, 1, 1, 1), Isa::kAvx2),
            "dense_conv3x3_f32_igemm_8x32_avx2");
  EXPECT_EQ(dense_conv_kernel_name(conv_shape(8, 16, 9, 16, 3, 1, 1, 1, 1, 1), Isa::kGeneric),
            "dense_conv3x3_f32_igemm_8x32_generic");
  EXPECT_EQ(dense_conv_kernel_name(conv_shape(8, 16, 9, 9, 3, 1, 1, 1, 1, 1), Isa::kAvx2),
            "dense_conv3x3_f32_gemm_8x32_avx2");  // out_w 9: flattened strips, packed
}

// The implicit path's padded copy above its kept size (kKeepPaddedFloats in dense_conv.cc: 2^20 floats)
// is freed after its run: the next, smaller run on the same thread must still see its own input, and
// a run after that the large one again.
TEST(DenseConv, LargePaddedInputBetweenSmallOnes) {
  const ConvShape big = conv_shape(64, 3, 130, 128, 3, 1, 1, 1, 1, 1);  // 64 x 132 x 130 padded floats
  const ConvShape small = conv_shape(5, 9, 6, 16, 3, 1, 1, 1, 1, 1);
  ASSERT_GT(big.c * (big.h + 2) * (big.w + 2), int64_t{1} << 20);
  ThreadPool pool(2);
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(isa_name(isa));
    for (const ConvShape* s : {&small, &big, &small, &big}) {
      const auto in = random_floats(static_cast<size_t>(s->c * s->h * s->w), static_cast<uint32_t>(s->c));
      const auto w = random_floats(static_cast<size_t>(s->weight_count()), 7, -0.5f, 0.5f);
      auto conv = prepare_dense_conv(*s, w.data(), nullptr, {}, isa);
      ASSERT_NE(conv->kernel_name().find("igemm"), std::string::npos);
      std::vector<float> out(static_cast<size_t>(s->f * s->out_h() * s->out_w()), NAN);
      conv->run(in.data(), out.data(), pool);
      EXPECT_LT(rel_error(out, conv_ref(*s, in, w, nullptr, {})), 1e-4) << s->str();
    }
  }
}

}  // namespace
}  // namespace hilsim::kernels
