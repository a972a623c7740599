#include "hilsim/kernels/sparse_conv.h"

#include <gtest/gtest.h>

#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::conv_ref;
using testing::random_floats;
using testing::rel_error;

ConvShape shape(int64_t c, int64_t f, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pt, int64_t pl,
                int64_t pb, int64_t pr, int64_t dil = 1) {
  ConvShape s;
  s.c = c, s.f = f, s.h = h, s.w = w, s.kh = k, s.kw = k, s.stride_h = stride, s.stride_w = stride;
  s.pad_top = pt, s.pad_left = pl, s.pad_bottom = pb, s.pad_right = pr, s.dil_h = dil, s.dil_w = dil;
  return s;
}

// The sparse kernel on `mask` equals the naive conv of the masked weights, for every ISA and 1/2 threads.
void check(const ConvShape& s, const PruneMask& mask, int fb, const std::string& label, uint32_t seed) {
  auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), seed);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1);
  auto bias = random_floats(static_cast<size_t>(s.f), seed + 2);
  auto masked = apply_mask(mask, w.data(), s.weight_count());
  Epilogue ep;
  ep.act = seed % 2 ? Act::kRelu : Act::kSiLU;
  auto want = conv_ref(s, in, masked, bias.data(), ep);
  ThreadPool one(1), two(2);
  for (Isa isa : supported_isas()) {
    auto k = prepare_sparse_conv(s, w.data(), bias.data(), ep, mask.keep, fb, label, isa);
    for (ThreadPool* pool : {&one, &two}) {
      std::vector<float> got(want.size(), -7.0f);
      k->run(in.data(), got.data(), *pool);
      EXPECT_LT(rel_error(got, want), 1e-4) << label << " " << s.str() << " isa " << isa_name(isa);
    }
  }
}

TEST(SparseConv, BlockPunchedEveryBlockSizeAndRatio) {
  const ConvShape shapes[] = {shape(13, 19, 7, 7, 3, 1, 1, 1, 1, 1), shape(9, 11, 13, 13, 3, 2, 0, 1, 2, 1),
                              shape(21, 35, 1, 1, 1, 1, 0, 0, 0, 0), shape(6, 10, 13, 7, 5, 1, 2, 2, 2, 2)};
  uint32_t seed = 1;
  for (const ConvShape& s : shapes)
    for (int bf : {1, 2, 4, 8, 16, 32})
      for (int bc : {1, 2, 4, 8, 16})
        for (double ratio : {0.0, 0.5, 0.9, 1.0}) {
          if ((bc + bf + static_cast<int>(ratio * 10)) % 3 && ratio != 1.0 && ratio != 0.0) continue;  // a spread
          auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1);
          for (bool col : {false, true}) {
            PruneMask m = block_mask(s, w.data(), bf, bc, ratio, col);
            check(s, m, bf, col ? "block_col" : "block", seed);
          }
          ++seed;
        }
}

TEST(SparseConv, LargerSpatialAndDilation) {
  const ConvShape s = shape(16, 24, 40, 40, 3, 1, 1, 1, 1, 1);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 5);
  check(s, block_mask(s, w.data(), 8, 4, 0.8, false), 8, "block", 4);
  const ConvShape d = shape(8, 8, 13, 13, 3, 1, 2, 2, 2, 2, 2);
  auto wd = random_floats(static_cast<size_t>(d.weight_count()), 6);
  check(d, block_mask(d, wd.data(), 4, 4, 0.5, false), 4, "block", 6);
}

TEST(SparseConv, PatternTwoAndThreeEntries3x3And1x1) {
  const ConvShape s3 = shape(10, 12, 13, 13, 3, 1, 1, 1, 1, 1), s3s2 = shape(7, 9, 7, 7, 3, 2, 1, 1, 1, 1);
  const ConvShape s1 = shape(23, 9, 7, 7, 1, 1, 0, 0, 0, 0);
  uint32_t seed = 20;
  for (const ConvShape& s : {s3, s3s2, s1})
    for (int e : {2, 3}) {
      auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1);
      check(s, pattern_mask(s, w.data(), e), 1, "pattern", seed);
      ++seed;
    }
}

TEST(SparseConv, CsrOneByOne) {
  uint32_t seed = 40;
  for (const ConvShape& s : {shape(37, 29, 13, 13, 1, 1, 0, 0, 0, 0), shape(16, 8, 40, 40, 1, 2, 0, 0, 0, 0)})
    for (double ratio : {0.0, 0.5, 0.9, 1.0}) {
      auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1);
      check(s, magnitude_mask(s, w.data(), ratio), 1, "csr", seed);
      ++seed;
    }
}

TEST(SparseMasks, BlockMaskKeepsTheRequestedCountAndTheStrongestUnits) {
  const ConvShape s = shape(13, 19, 5, 5, 3, 1, 1, 1, 1, 1);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 3);
  for (double ratio : {0.0, 0.3, 0.8, 1.0}) {
    PruneMask m = block_mask(s, w.data(), 8, 4, ratio, false);
    // Units: ceil(19/8) x ceil(13/4) blocks x 9 positions.
    EXPECT_EQ(m.units, 3 * 4 * 9);
    EXPECT_EQ(m.pruned_units, std::llround(ratio * m.units));
    // Every kept unit scores at least as high as every pruned one.
    std::vector<double> score(static_cast<size_t>(m.units), 0.0);
    std::vector<int> kept(static_cast<size_t>(m.units), 0);
    for (int64_t f = 0; f < 19; ++f)
      for (int64_t c = 0; c < 13; ++c)
        for (int64_t p = 0; p < 9; ++p) {
          const int64_t u = ((f / 8) * 4 + c / 4) * 9 + p, i = (f * 13 + c) * 9 + p;
          score[u] += static_cast<double>(w[i]) * w[i];
          kept[u] = m.keep[i];
        }
    double min_kept = 1e300, max_pruned = -1;
    int64_t pruned = 0;
    for (int64_t u = 0; u < m.units; ++u) {
      if (kept[u]) min_kept = std::min(min_kept, score[u]);
      else max_pruned = std::max(max_pruned, score[u]), ++pruned;
    }
    EXPECT_EQ(pruned, m.pruned_units);
    if (pruned && pruned < m.units) {
      EXPECT_GE(min_kept, max_pruned);
    }
    EXPECT_GE(m.kept_saliency, 0.0);
    EXPECT_LE(m.kept_saliency, 1.0);
    if (ratio == 0.0) {
      EXPECT_DOUBLE_EQ(m.kept_saliency, 1.0);
    }
    if (ratio == 1.0) {
      EXPECT_DOUBLE_EQ(m.kept_saliency, 0.0);
    }
  }
}

TEST(SparseMasks, PatternKeepsExactlyTheEntriesOfTheBestPattern) {
  const ConvShape s = shape(5, 4, 5, 5, 3, 1, 1, 1, 1, 1);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 9);
  EXPECT_EQ(pattern_set(2).size(), 12u);
  EXPECT_EQ(pattern_set(3).size(), 22u);
  for (int e : {2, 3}) {
    PruneMask m = pattern_mask(s, w.data(), e);
    for (int64_t k = 0; k < 20; ++k) {
      int n = 0;
      double kept = 0, best = 0;
      for (int i = 0; i < 9; ++i)
        if (m.keep[k * 9 + i]) n++, kept += w[k * 9 + i] * w[k * 9 + i];
      for (const auto& p : pattern_set(e)) {
        double v = 0;
        for (int i : p) v += w[k * 9 + i] * w[k * 9 + i];
        best = std::max(best, v);
      }
      EXPECT_EQ(n, e);
      EXPECT_NEAR(kept, best, 1e-6);
    }
  }
}

TEST(SparseMasks, MagnitudeAndChannelMasks) {
  const ConvShape s = shape(7, 10, 3, 3, 1, 1, 0, 0, 0, 0);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 12);
  PruneMask m = magnitude_mask(s, w.data(), 0.9);
  EXPECT_EQ(std::count(m.keep.begin(), m.keep.end(), 0), std::llround(0.9 * 70));
  PruneMask c = channel_mask(s, w.data(), 0.5);
  EXPECT_EQ(std::count(c.keep.begin(), c.keep.end(), 0), 5 * 7);
}

TEST(SparseMasks, BadArgumentsAreErrors) {
  const ConvShape s = shape(8, 8, 5, 5, 5, 1, 2, 2, 2, 2);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 1);
  EXPECT_THROW(block_mask(s, w.data(), 3, 4, 0.5, false), Error);
  EXPECT_THROW(block_mask(s, w.data(), 8, 4, 1.5, false), Error);
  EXPECT_THROW(pattern_mask(s, w.data(), 2), Error);  // 5x5
  EXPECT_THROW(pattern_set(4), Error);
  ConvShape g = shape(8, 8, 5, 5, 3, 1, 1, 1, 1, 1);
  g.groups = 2;
  EXPECT_THROW(block_mask(g, w.data(), 8, 4, 0.5, false), Error);
}

}  // namespace
}  // namespace hilsim::kernels
