// Mask library tester: exact pruned counts, the strongest units kept, the one pattern table and its
// tie-break, kept saliency, bad arguments.
#include "hilsim/kernels/sparse_masks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::random_floats;

ConvShape shape(int64_t c, int64_t f, int64_t k) {
  ConvShape s;
  s.c = c, s.f = f, s.h = s.w = 5, s.kh = s.kw = k;
  return s;
}

void expect_strongest_kept(const std::vector<double>& score, const std::vector<uint8_t>& keep) {
  double min_kept = INFINITY, max_pruned = -INFINITY;
  for (size_t i = 0; i < score.size(); ++i) {
    if (keep[i]) min_kept = std::min(min_kept, score[i]);
    else max_pruned = std::max(max_pruned, score[i]);
  }
  EXPECT_GE(min_kept, max_pruned);
}

TEST(SparseMasks, BlockMaskCountsAndStrongestUnits) {
  uint32_t seed = 1;
  for (ConvShape s : {shape(13, 19, 3), shape(7, 33, 1), shape(16, 8, 5)})
    for (int bf : {1, 2, 4, 8, 16, 32})
      for (int bc : {1, 2, 4, 8, 16})
        for (bool col : {false, true})
          for (double ratio : {0.0, 0.3, 0.5, 0.9, 1.0}) {
            const auto w = random_floats(static_cast<size_t>(s.weight_count()), ++seed);
            const PruneMask m = block_mask(s, w.data(), bf, bc, ratio, col);
            const int64_t P = s.kh * s.kw, bcn = col ? s.c : (s.c + bc - 1) / bc;
            ASSERT_EQ(m.units, (s.f + bf - 1) / bf * bcn * P);
            EXPECT_EQ(m.pruned_units, std::llround(ratio * static_cast<double>(m.units)));
            std::vector<double> score(static_cast<size_t>(m.units), 0.0);
            std::vector<uint8_t> unit_keep(static_cast<size_t>(m.units), 0);
            for (int64_t f = 0; f < s.f; ++f)
              for (int64_t c = 0; c < s.c; ++c)
                for (int64_t p = 0; p < P; ++p) {
                  const int64_t u = ((f / bf) * bcn + (col ? c : c / bc)) * P + p, i = (f * s.c + c) * P + p;
                  score[static_cast<size_t>(u)] += static_cast<double>(w[i]) * w[i];
                  unit_keep[static_cast<size_t>(u)] = m.keep[static_cast<size_t>(i)];
                }
            EXPECT_EQ(std::count(unit_keep.begin(), unit_keep.end(), 0), m.pruned_units);
            expect_strongest_kept(score, unit_keep);
            if (ratio == 0.0) {
              EXPECT_DOUBLE_EQ(m.kept_saliency, 1.0);
            }
            if (ratio == 1.0) {
              EXPECT_DOUBLE_EQ(m.kept_saliency, 0.0);
            }
            EXPECT_GE(m.kept_saliency, 0.0);
            EXPECT_LE(m.kept_saliency, 1.0);
          }
}

TEST(SparseMasks, BlocksKeepDifferentCounts) {
  // One layer-wide threshold: a block of large weights keeps everything, a block of tiny ones nothing.
  const ConvShape s = shape(4, 16, 3);
  std::vector<float> w(static_cast<size_t>(s.weight_count()));
  for (int64_t o = 0; o < 16; ++o)
    for (int64_t i = 0; i < 36; ++i) w[static_cast<size_t>(o * 36 + i)] = o < 8 ? 1.0f : 0.01f;
  const PruneMask m = block_mask(s, w.data(), 8, 4, 0.5, false);
  for (int64_t i = 0; i < 36; ++i) {
    EXPECT_EQ(m.keep[static_cast<size_t>(i)], 1);
    EXPECT_EQ(m.keep[static_cast<size_t>(8 * 36 + i)], 0);
  }
}

TEST(SparseMasks, TheOnePatternTable) {
  EXPECT_EQ(pattern_set(2).size(), 12u);
  EXPECT_EQ(pattern_set(3).size(), 22u);
  for (int e : {2, 3}) {
    const auto& c = pattern_set(e);
    std::set<std::vector<int>> uniq(c.begin(), c.end());
    EXPECT_EQ(uniq.size(), c.size());
    for (const auto& p : c) {
      ASSERT_EQ(static_cast<int>(p.size()), e);
      // Every position touches another by an edge (connected, for 2 and 3 positions).
      for (int q : p) {
        bool touches = false;
        for (int r : p) touches |= std::abs(q / 3 - r / 3) + std::abs(q % 3 - r % 3) == 1;
        EXPECT_TRUE(touches);
      }
    }
  }
  // Every edge-connected subset of the 3x3 is listed: C(9,2) pairs and C(9,3) triples, filtered.
  int pairs = 0, triples = 0;
  for (int a = 0; a < 9; ++a)
    for (int b = a + 1; b < 9; ++b) {
      auto adj = [](int x, int y) { return std::abs(x / 3 - y / 3) + std::abs(x % 3 - y % 3) == 1; };
      pairs += adj(a, b);
      for (int c = b + 1; c < 9; ++c) triples += (adj(a, b) + adj(b, c) + adj(a, c)) >= 2;
    }
  EXPECT_EQ(pairs, 12);
  EXPECT_EQ(triples, 22);
}

TEST(SparseMasks, PatternKeepsTheStrongestCandidateFirstOnTies) {
  for (int e : {2, 3})
    for (int64_t k : {3, 1}) {
      const ConvShape s = shape(k == 3 ? 6 : 22, 5, k);
      const auto w = random_floats(static_cast<size_t>(s.weight_count()), 7 + e);
      const PruneMask m = pattern_mask(s, w.data(), e);
      const int64_t groups = k == 3 ? s.f * s.c : s.f * (s.c / 9);
      int64_t kept_total = std::count(m.keep.begin(), m.keep.end(), uint8_t{1});
      EXPECT_EQ(kept_total, groups * e);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t base = k == 3 ? g * 9 : (g / (s.c / 9)) * s.c + (g % (s.c / 9)) * 9;
        double kept = 0, best = 0;
        for (int i = 0; i < 9; ++i)
          if (m.keep[static_cast<size_t>(base + i)]) kept += static_cast<double>(w[base + i]) * w[base + i];
        for (const auto& p : pattern_set(e)) {
          double v = 0;
          for (int i : p) v += static_cast<double>(w[base + i]) * w[base + i];
          best = std::max(best, v);
        }
        EXPECT_NEAR(kept, best, 1e-9);
      }
    }
  // All-equal weights: every candidate ties, the first listed wins.
  const ConvShape s = shape(1, 1, 3);
  const std::vector<float> ones(9, 1.0f);
  for (int e : {2, 3}) {
    const PruneMask m = pattern_mask(s, ones.data(), e);
    for (int i = 0; i < 9; ++i) {
      const auto& first = pattern_set(e)[0];
      EXPECT_EQ(m.keep[static_cast<size_t>(i)], std::count(first.begin(), first.end(), i) ? 1 : 0);
    }
  }
}

TEST(SparseMasks, MagnitudeAndChannelMasks) {
  ConvShape s = shape(7, 10, 3);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 12);
  for (double ratio : {0.0, 0.25, 0.9, 1.0}) {
    const PruneMask m = magnitude_mask(s, w.data(), ratio);
    EXPECT_EQ(std::count(m.keep.begin(), m.keep.end(), 0), std::llround(ratio * 630));
    std::vector<double> score(w.size());
    for (size_t i = 0; i < w.size(); ++i) score[i] = std::fabs(w[i]);
    expect_strongest_kept(score, m.keep);
  }
  const PruneMask c = channel_mask(s, w.data(), 0.5);
  EXPECT_EQ(std::count(c.keep.begin(), c.keep.end(), 0), 5 * 63);
  const auto masked = apply_mask(c, w.data(), s.weight_count());
  EXPECT_EQ(std::count(masked.begin(), masked.end(), 0.0f), 5 * 63);
}

TEST(SparseMasks, FormatMaskDispatches) {
  const ConvShape s = shape(8, 16, 3);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 2);
  SparseFormat f;
  f.kind = SparseKind::kBlockCol, f.bf = 4, f.bc = 2, f.ratio = 0.5;
  EXPECT_EQ(format_mask(s, w.data(), f).keep, block_mask(s, w.data(), 4, 2, 0.5, true).keep);
  f.kind = SparseKind::kPattern, f.entries = 3;
  EXPECT_EQ(format_mask(s, w.data(), f).keep, pattern_mask(s, w.data(), 3).keep);
  f.kind = SparseKind::kCsr, f.ratio = 0.7;
  EXPECT_EQ(format_mask(s, w.data(), f).keep, magnitude_mask(s, w.data(), 0.7).keep);
  f.kind = SparseKind::kDetected;
  EXPECT_THROW(format_mask(s, w.data(), f), Error);
}

TEST(SparseMasks, BadArgumentsAreErrors) {
  const ConvShape s5 = shape(8, 8, 5);
  const auto w = random_floats(static_cast<size_t>(s5.weight_count()), 1);
  EXPECT_THROW(block_mask(s5, w.data(), 3, 4, 0.5, false), Error);
  EXPECT_THROW(block_mask(s5, w.data(), 8, 32, 0.5, false), Error);
  EXPECT_THROW(block_mask(s5, w.data(), 8, 4, 1.5, false), Error);
  EXPECT_THROW(block_mask(s5, w.data(), 8, 4, -0.1, false), Error);
  EXPECT_THROW(magnitude_mask(s5, w.data(), 1.01), Error);
  EXPECT_THROW(pattern_mask(s5, w.data(), 2), Error);  // 5x5
  EXPECT_THROW(pattern_set(4), Error);
  ConvShape g = shape(8, 8, 3);
  g.groups = 2;
  EXPECT_THROW(block_mask(g, w.data(), 8, 4, 0.5, false), Error);
}

}  // namespace
}  // namespace hilsim::kernels
