// Block-punched sparse conv tester: every ISA x awkward shapes x ratios x block sizes, against the naive
// reference on the mask-zeroed weights.
#include "hilsim/kernels/block_sparse_conv.h"

#include <gtest/gtest.h>

#include "hilsim/kernels/masks.h"
#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::all_epilogues;
using testing::conv_ref;
using testing::random_floats;
using testing::rel_error;

ConvShape make(int64_t c, int64_t f, int64_t h, int64_t w, int64_t k, int64_t s, int64_t pt, int64_t pl, int64_t pb,
               int64_t pr, int64_t d = 1, int64_t n = 1) {
  ConvShape x;
  x.n = n, x.c = c, x.f = f, x.h = h, x.w = w, x.kh = x.kw = k, x.stride_h = x.stride_w = s;
  x.pad_top = pt, x.pad_left = pl, x.pad_bottom = pb, x.pad_right = pr, x.dil_h = x.dil_w = d;
  return x;
}

std::vector<ConvShape> shapes() {
  ConvShape ns = make(4, 6, 7, 9, 3, 1, 1, 0, 1, 2);  // different strides and kernel sizes per axis
  ns.stride_w = 2;
  ns.kw = 2;
  return {
      make(5, 7, 7, 7, 3, 1, 1, 1, 1, 1),
      make(13, 19, 13, 13, 3, 2, 0, 1, 1, 0),    // stride 2, asymmetric pads
      make(6, 9, 1, 1, 3, 1, 1, 1, 1, 1),        // 1x1 image: only the centre tap
      make(9, 12, 40, 40, 1, 1, 0, 0, 0, 0),     // 1x1 read in place, partial last tile
      make(10, 11, 13, 13, 1, 2, 0, 0, 0, 0),    // strided 1x1
      make(4, 33, 7, 13, 3, 1, 2, 2, 2, 2, 2),   // dilation 2, F past a 32-row block
      make(5, 8, 7, 7, 3, 1, 1, 1, 1, 1, 1, 2),  // batch 2
      make(3, 5, 13, 13, 5, 2, 2, 2, 2, 2),      // 5x5 stride 2
      make(17, 20, 40, 40, 3, 1, 1, 1, 1, 1),    // many tiles
      make(70, 37, 13, 13, 3, 1, 1, 1, 1, 1),    // input tile past L1: channel chunks
      make(200, 9, 7, 7, 1, 1, 0, 0, 0, 0),      // chunked 1x1 read in place
      make(150, 10, 13, 13, 3, 2, 1, 0, 0, 1),   // chunked, stride 2
      ns,
  };
}

void check(const ConvShape& s, int bf, int bc, double ratio, bool per_column, Isa isa, const Epilogue& ep,
           bool with_bias, ThreadPool& pool, uint32_t seed) {
  const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), seed);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1, -0.5f, 0.5f);
  const auto bias = random_floats(static_cast<size_t>(s.f), seed + 2);
  const float* b = with_bias ? bias.data() : nullptr;
  const auto m = block_mask(s.f, s.c, s.kh, s.kw, w.data(), bf, bc, ratio, per_column);
  auto conv = prepare_block_sparse_conv(s, w.data(), b, ep, m.mask, isa);
  std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
  conv->run(in.data(), out.data(), pool);
  const auto wm = masked_weights(w.data(), m.mask.weight_keep());
  EXPECT_LT(rel_error(out, conv_ref(s, in, wm, b, ep)), 1e-4)
      << s.str() << " block " << bf << "x" << bc << (per_column ? " col" : "") << " ratio " << ratio
      << " act=" << act_name(ep.act) << " kernel=" << conv->kernel_name();
  EXPECT_EQ(conv->executed_macs(), kept_weights(m.mask) * s.n * s.out_h() * s.out_w());
}

TEST(BlockSparseConv, ShapesRatiosIsasAndThreads) {
  ThreadPool pool1(1), pool2(2);
  const auto eps = all_epilogues();
  uint32_t seed = 1;
  for (Isa isa : supported_isas())
    for (const auto& s : shapes())
      for (double ratio : {0.0, 0.5, 0.9, 1.0})
        for (auto [bf, bc] : {std::pair{8, 4}, std::pair{32, 16}, std::pair{1, 1}, std::pair{16, 2}}) {
          ++seed;
          check(s, bf, bc, ratio, seed % 3 == 0, isa, eps[seed % eps.size()], seed % 2, seed % 2 ? pool2 : pool1,
                seed);
        }
}

TEST(BlockSparseConv, EveryBlockSizeBothUnits) {
  ThreadPool pool2(2);
  const ConvShape a = make(7, 37, 7, 7, 3, 1, 1, 1, 1, 1);
  const ConvShape b = make(19, 9, 7, 13, 1, 1, 0, 0, 0, 0);
  uint32_t seed = 500;
  for (Isa isa : supported_isas())
    for (int bf : {1, 2, 4, 8, 16, 32})
      for (int bc : {1, 2, 4, 8, 16})
        for (bool col : {false, true}) {
          ++seed;
          check(a, bf, bc, 0.6, col, isa, {}, true, pool2, seed);
          check(b, bf, bc, 0.5, col, isa, {}, true, pool2, seed);
        }
}

TEST(BlockSparseConv, AllPrunedOutputsActOfBias) {
  const ConvShape s = make(6, 10, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 7);
  const auto bias = random_floats(static_cast<size_t>(s.f), 8);
  const auto in = random_floats(static_cast<size_t>(s.c * s.h * s.w), 9);
  Epilogue ep;
  ep.act = Act::kRelu;
  ThreadPool pool(2);
  for (Isa isa : supported_isas()) {
    const auto m = block_mask(s.f, s.c, s.kh, s.kw, w.data(), 8, 4, 1.0, false);
    auto conv = prepare_block_sparse_conv(s, w.data(), bias.data(), ep, m.mask, isa);
    std::vector<float> out(static_cast<size_t>(s.f * 49), NAN);
    conv->run(in.data(), out.data(), pool);
    for (int64_t f = 0; f < s.f; ++f)
      for (int p = 0; p < 49; ++p) ASSERT_EQ(out[static_cast<size_t>(f * 49 + p)], std::max(0.0f, bias[f]));
    EXPECT_EQ(conv->executed_macs(), 0);
  }
}

TEST(BlockSparseConv, NameBytesAndErrors) {
  const ConvShape s = make(8, 16, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 3);
  const auto m = block_mask(s.f, s.c, s.kh, s.kw, w.data(), 8, 4, 0.5, false);
  auto conv = prepare_block_sparse_conv(s, w.data(), nullptr, {}, m.mask);
  EXPECT_NE(conv->kernel_name().find("block_punched_8x4"), std::string::npos);
  const int64_t kept = kept_weights(m.mask);
  // Every block is whole here: values + one int32 index per kept column of a row + the bias (always stored).
  EXPECT_EQ(conv->weight_bytes(), kept * 4 + kept / 8 * 4 + s.f * 4);
  EXPECT_LT(conv->executed_macs(), s.macs());

  ConvShape g = s;
  g.groups = 2;
  EXPECT_THROW(prepare_block_sparse_conv(g, w.data(), nullptr, {}, m.mask), Error);
  BlockMask bad = m.mask;
  bad.bf = 3;
  EXPECT_THROW(prepare_block_sparse_conv(s, w.data(), nullptr, {}, bad), Error);
  bad = m.mask;
  bad.keep.pop_back();
  EXPECT_THROW(prepare_block_sparse_conv(s, w.data(), nullptr, {}, bad), Error);
  ConvShape other = s;
  other.c = 9;
  EXPECT_THROW(prepare_block_sparse_conv(other, w.data(), nullptr, {}, m.mask), Error);
}

}  // namespace
}  // namespace hilsim::kernels
