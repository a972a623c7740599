// Mask generator tester: exact pruned counts, the strongest units kept, kept saliency, bad arguments.
#include "hilsim/kernels/masks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::random_floats;

// Unit scores (squared L2) of a block mask's units, computed independently of the generator.
std::vector<double> block_scores(const BlockMask& m, const std::vector<float>& w) {
  std::vector<double> s(static_cast<size_t>(m.units()), 0.0);
  const int64_t k = m.kh * m.kw;
  for (int64_t o = 0; o < m.f; ++o)
    for (int64_t c = 0; c < m.c; ++c)
      for (int64_t p = 0; p < k; ++p) {
        const int64_t rb = o / m.bf;
        const int64_t u = m.per_column ? (rb * m.c + c) * k + p : (rb * m.col_blocks() + c / m.bc) * k + p;
        s[static_cast<size_t>(u)] += static_cast<double>(w[(o * m.c + c) * k + p]) * w[(o * m.c + c) * k + p];
      }
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

TEST(MaskGenerators, BlockMaskCountsAndOrder) {
  struct Dims { int64_t f, c, kh, kw; };
  uint32_t seed = 1;
  for (Dims d : {Dims{19, 13, 3, 3}, Dims{33, 7, 1, 1}, Dims{8, 16, 5, 5}})
    for (int bf : {1, 2, 4, 8, 16, 32})
      for (int bc : {1, 2, 4, 8, 16})
        for (bool col : {false, true})
          for (double ratio : {0.0, 0.3, 0.5, 0.9, 1.0}) {
            const auto w = random_floats(static_cast<size_t>(d.f * d.c * d.kh * d.kw), ++seed);
            const auto r = block_mask(d.f, d.c, d.kh, d.kw, w.data(), bf, bc, ratio, col);
            ASSERT_EQ(r.units, r.mask.units());
            const int64_t pruned = std::count(r.mask.keep.begin(), r.mask.keep.end(), uint8_t{0});
            EXPECT_EQ(pruned, std::llround(ratio * static_cast<double>(r.units)));
            EXPECT_EQ(pruned, r.pruned_units);
            expect_strongest_kept(block_scores(r.mask, w), r.mask.keep);
            EXPECT_GE(r.kept_saliency, 0.0);
            EXPECT_LE(r.kept_saliency, 1.0);
            if (ratio == 0.0) {
              EXPECT_DOUBLE_EQ(r.kept_saliency, 1.0);
            }
            if (ratio == 1.0) {
              EXPECT_DOUBLE_EQ(r.kept_saliency, 0.0);
            }
            EXPECT_NEAR(r.kept_saliency, kept_energy_ratio(w.data(), r.mask.weight_keep()), 1e-12);
          }
}

TEST(MaskGenerators, BlocksKeepDifferentCounts) {
  // One layer-wide threshold: a block of large weights keeps everything, a block of tiny ones nothing.
  const int64_t f = 16, c = 4;
  std::vector<float> w(static_cast<size_t>(f * c * 9));
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < c * 9; ++i) w[static_cast<size_t>(o * c * 9 + i)] = o < 8 ? 1.0f : 0.01f;
  const auto r = block_mask(f, c, 3, 3, w.data(), 8, 4, 0.5, false);
  for (int p = 0; p < 9; ++p) {
    EXPECT_EQ(r.mask.keep[static_cast<size_t>(p)], 1);
    EXPECT_EQ(r.mask.keep[static_cast<size_t>(9 + p)], 0);
  }
}

TEST(MaskGenerators, PatternMaskPicksTheStrongestCandidate) {
  for (int entries : {2, 3})
    for (int64_t k : {3, 1}) {
      const int64_t f = 5, c = k == 3 ? 6 : 22;
      const auto w = random_floats(static_cast<size_t>(f * c * k * k), 7 + entries);
      const auto r = pattern_mask(f, c, k, k, w.data(), entries);
      const auto& cand = pattern_candidates(entries);
      const int64_t g = r.mask.groups_per_filter();
      ASSERT_EQ(static_cast<int64_t>(r.mask.pattern_id.size()), f * g);
      for (int64_t o = 0; o < f; ++o)
        for (int64_t i = 0; i < g; ++i) {
          const float* k9 = w.data() + o * c * k * k + i * 9;
          const uint8_t id = r.mask.pattern_id[static_cast<size_t>(o * g + i)];
          ASSERT_LT(id, cand.size());
          auto energy = [&](const std::vector<int>& p) {
            double e = 0;
            for (int q : p) e += static_cast<double>(k9[q]) * k9[q];
            return e;
          };
          for (const auto& p : cand) EXPECT_GE(energy(cand[id]), energy(p));
        }
      const auto keep = r.mask.weight_keep();
      const int64_t kept = std::count(keep.begin(), keep.end(), uint8_t{1});
      EXPECT_EQ(kept, f * g * entries);
      EXPECT_GT(r.kept_saliency, 0.0);
      EXPECT_LT(r.kept_saliency, 1.0);
    }
}

TEST(MaskGenerators, CsrAndChannelMasks) {
  const auto w = random_floats(1000, 3);
  for (double ratio : {0.0, 0.25, 0.5, 0.9, 1.0}) {
    const auto r = csr_mask(w.data(), 1000, ratio);
    EXPECT_EQ(std::count(r.keep.begin(), r.keep.end(), uint8_t{0}), std::llround(ratio * 1000));
    std::vector<double> score(w.size());
    for (size_t i = 0; i < w.size(); ++i) score[i] = std::fabs(w[i]);
    expect_strongest_kept(score, r.keep);
    if (ratio == 0.0) {
      EXPECT_DOUBLE_EQ(r.kept_saliency, 1.0);
    }
    EXPECT_GE(r.kept_saliency, 0.0);
    EXPECT_LE(r.kept_saliency, 1.0);

    const auto ch = channel_mask(20, 50, w.data(), ratio);
    EXPECT_EQ(std::count(ch.unit_keep.begin(), ch.unit_keep.end(), uint8_t{0}), std::llround(ratio * 20));
    std::vector<double> fs(20, 0.0);
    for (int o = 0; o < 20; ++o)
      for (int i = 0; i < 50; ++i) fs[static_cast<size_t>(o)] += static_cast<double>(w[o * 50 + i]) * w[o * 50 + i];
    expect_strongest_kept(fs, ch.unit_keep);
    for (int o = 0; o < 20; ++o)
      for (int i = 0; i < 50; ++i) EXPECT_EQ(ch.keep[static_cast<size_t>(o * 50 + i)], ch.unit_keep[static_cast<size_t>(o)]);
  }
  const auto mw = masked_weights(w.data(), csr_mask(w.data(), 1000, 0.5).keep);
  EXPECT_EQ(std::count(mw.begin(), mw.end(), 0.0f), 500);
}

TEST(MaskGenerators, BadArgumentsThrow) {
  const auto w = random_floats(16 * 16 * 25, 4);
  EXPECT_THROW(block_mask(16, 16, 3, 3, w.data(), 3, 4, 0.5, false), Error);
  EXPECT_THROW(block_mask(16, 16, 3, 3, w.data(), 8, 32, 0.5, false), Error);
  EXPECT_THROW(block_mask(16, 16, 3, 3, w.data(), 8, 4, 1.5, false), Error);
  EXPECT_THROW(block_mask(16, 16, 3, 3, w.data(), 8, 4, -0.1, false), Error);
  try {
    pattern_mask(16, 16, 5, 5, w.data(), 2);
    FAIL() << "expected hilsim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5x5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pattern_mask(16, 16, 3, 3, w.data(), 4), Error);
  EXPECT_THROW(csr_mask(w.data(), 100, 2.0), Error);
  EXPECT_THROW(channel_mask(16, 16, w.data(), NAN), Error);
}

}  // namespace
}  // namespace hilsim::kernels
