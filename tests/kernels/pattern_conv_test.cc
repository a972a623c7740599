// Pattern-sparse conv tester: 2EP / 3EP on 3x3 and grouped-9 1x1 convs, every ISA, against the naive
// reference on the mask-zeroed weights.
#include "hilsim/kernels/pattern_conv.h"

#include <gtest/gtest.h>

#include <set>

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

TEST(PatternConv, CandidateSets) {
  for (int e : {2, 3}) {
    const auto& c = pattern_candidates(e);
    EXPECT_EQ(c.size(), e == 2 ? 12u : 16u);
    std::set<std::vector<int>> uniq(c.begin(), c.end());
    EXPECT_EQ(uniq.size(), c.size());
    for (const auto& p : c) {
      EXPECT_EQ(static_cast<int>(p.size()), e);
      // Connected by 4-adjacency and inside one 2x2 square (3EP) or adjacent (2EP).
      for (size_t i = 1; i < p.size(); ++i) EXPECT_LT(p[i - 1], p[i]);
      int ymin = 9, ymax = -1, xmin = 9, xmax = -1;
      for (int q : p) ymin = std::min(ymin, q / 3), ymax = std::max(ymax, q / 3), xmin = std::min(xmin, q % 3), xmax = std::max(xmax, q % 3);
      EXPECT_LE(ymax - ymin + xmax - xmin, e == 2 ? 1 : 2);
      if (e == 3) {
        EXPECT_TRUE(ymax - ymin == 1 && xmax - xmin == 1);
      }
    }
  }
  EXPECT_THROW(pattern_candidates(4), Error);
}

TEST(PatternConv, MatchesReference) {
  const std::vector<ConvShape> cases = {
      make(5, 7, 7, 7, 3, 1, 1, 1, 1, 1),
      make(13, 9, 13, 13, 3, 2, 0, 1, 1, 0),
      make(6, 4, 1, 1, 3, 1, 1, 1, 1, 1),
      make(4, 6, 40, 40, 3, 1, 1, 1, 1, 1),
      make(3, 5, 7, 13, 3, 1, 2, 2, 2, 2, 2),
      make(5, 3, 7, 7, 3, 1, 1, 1, 1, 1, 1, 2),
      make(20, 7, 13, 13, 1, 1, 0, 0, 0, 0),   // two groups of 9 + a pruned tail of 2
      make(9, 5, 40, 40, 1, 1, 0, 0, 0, 0),
      make(27, 6, 13, 7, 1, 2, 0, 0, 0, 0),    // strided 1x1
      make(5, 4, 7, 7, 1, 1, 0, 0, 0, 0),      // fewer than 9 channels: all pruned
      make(18, 6, 7, 7, 1, 1, 1, 0, 0, 1),     // padded 1x1
      make(100, 5, 13, 13, 3, 1, 1, 1, 1, 1),  // channel chunks
      make(400, 7, 7, 7, 1, 1, 0, 0, 0, 0),    // chunked grouped-9 1x1
  };
  ThreadPool pool1(1), pool2(2);
  const auto eps = all_epilogues();
  uint32_t seed = 10;
  for (Isa isa : supported_isas())
    for (const auto& s : cases)
      for (int entries : {2, 3}) {
        ++seed;
        const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), seed);
        const auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1, -0.5f, 0.5f);
        const auto bias = random_floats(static_cast<size_t>(s.f), seed + 2);
        const Epilogue& ep = eps[seed % eps.size()];
        const float* b = seed % 2 ? bias.data() : nullptr;
        const auto m = pattern_mask(s.f, s.c, s.kh, s.kw, w.data(), entries);
        auto conv = prepare_pattern_conv(s, w.data(), b, ep, m.mask, isa);
        std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
        conv->run(in.data(), out.data(), seed % 2 ? pool2 : pool1);
        const auto wm = masked_weights(w.data(), m.mask.weight_keep());
        EXPECT_LT(rel_error(out, conv_ref(s, in, wm, b, ep)), 1e-4)
            << s.str() << " entries " << entries << " kernel=" << conv->kernel_name();
        const int64_t per_pixel = s.kh == 3 ? s.f * s.c * entries : s.f * (s.c / 9) * entries;
        EXPECT_EQ(conv->executed_macs(), per_pixel * s.n * s.out_h() * s.out_w());
      }
}

TEST(PatternConv, RemovedKernelsAndErrors) {
  const ConvShape s = make(4, 3, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 5);
  const auto in = random_floats(static_cast<size_t>(s.c * s.h * s.w), 6);
  auto m = pattern_mask(s.f, s.c, 3, 3, w.data(), 2).mask;
  for (size_t i = 0; i < m.pattern_id.size(); i += 2) m.pattern_id[i] = kPatternRemoved;
  ThreadPool pool(2);
  auto conv = prepare_pattern_conv(s, w.data(), nullptr, {}, m);
  EXPECT_NE(conv->kernel_name().find("pattern_2ep_3x3"), std::string::npos);
  std::vector<float> out(static_cast<size_t>(s.f * 49));
  conv->run(in.data(), out.data(), pool);
  EXPECT_LT(rel_error(out, conv_ref(s, in, masked_weights(w.data(), m.weight_keep()), nullptr, {})), 1e-4);

  ConvShape k5 = make(4, 3, 7, 7, 5, 1, 2, 2, 2, 2);
  try {
    prepare_pattern_conv(k5, w.data(), nullptr, {}, m);
    FAIL() << "expected hilsim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5x5"), std::string::npos) << e.what();
  }
  auto bad = m;
  bad.pattern_id[0] = 200;
  EXPECT_THROW(prepare_pattern_conv(s, w.data(), nullptr, {}, bad), Error);
  bad = m;
  bad.entries = 4;
  EXPECT_THROW(prepare_pattern_conv(s, w.data(), nullptr, {}, bad), Error);
  ConvShape g = make(4, 4, 7, 7, 3, 1, 1, 1, 1, 1);
  g.groups = 2;
  EXPECT_THROW(prepare_pattern_conv(g, w.data(), nullptr, {}, m), Error);
}

}  // namespace
}  // namespace hilsim::kernels
