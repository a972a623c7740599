// CoDL's channel split priced and chosen on a synthetic profile: a gpu unit exactly as fast as one
// CPU core on every class, with host copies and a sync term: the best split of a heavy conv beats one
// core, a faster unit takes a larger share, and a sync term of 100 ms makes any split lose.
#include "hilsim/partition/channel_split.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "hilsim/model/profile.h"
#include "hilsim/util/error.h"
#include "partition/partition_testing.h"

namespace hilsim::partition {
namespace {

TEST(ChannelSplit, HalfOfAHeavyConvOnAnEquallyFastUnitWins) {
  const graph::Graph g = small("vgg_like");
  const model::Profile p = with_gpu(1.0, 30);
  costmodel::PredictorOptions po;
  po.default_unit = "cpu0";
  const double cpu_only = costmodel::Predictor(g, p, po).predict().ms;
  const auto c = best_channel_split(g, p, {}, "cpu0", "gpu");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->unit, "gpu");
  EXPECT_EQ(c->home, "cpu0");
  EXPECT_GT(c->channels, 0);
  EXPECT_LT(c->channels, c->of_channels);
  EXPECT_LT(c->predicted_ms, cpu_only);
  // The best share of its conv: no other eighth of the same conv is predicted faster.
  for (int64_t eighths = 1; eighths < 8; ++eighths) {
    ChannelSplitChoice other = *c;
    other.channels = std::max<int64_t>(1, (c->of_channels * eighths + 4) / 8);
    EXPECT_LE(c->predicted_ms, predict_channel_split(g, p, {}, other).ms + 1e-9) << other.channels;
  }
  // A unit ten times faster takes a larger share of the same conv.
  const model::Profile fast = with_gpu(0.1, 30);
  ChannelSplitChoice best_fast = *c;
  double best_fast_ms = 1e300;
  for (int64_t eighths = 1; eighths < 8; ++eighths) {
    ChannelSplitChoice t = *c;
    t.channels = std::max<int64_t>(1, (c->of_channels * eighths + 4) / 8);
    const double ms = predict_channel_split(g, fast, {}, t).ms;
    if (ms < best_fast_ms) best_fast_ms = ms, best_fast = t;
  }
  EXPECT_GT(best_fast.channels, c->channels);
  // The figure is the split graph's simulated makespan: both parts on their units, crossings paid.
  const costmodel::Prediction sp = predict_channel_split(g, p, {}, *c);
  EXPECT_DOUBLE_EQ(sp.ms, c->predicted_ms);
  // The input to the device (unless it is the graph's input, copied inside the op), the part's output back.
  EXPECT_GE(sp.transfers, 1);
  EXPECT_LE(sp.transfers, 2);
  bool ch0_on_gpu = false;
  for (const auto& o : sp.ops) ch0_on_gpu = ch0_on_gpu || (o.name == c->op + "/ch0" && o.unit == "gpu");
  EXPECT_TRUE(ch0_on_gpu);
  // A crossing that costs 100 ms makes every split lose, the best of them included.
  const auto slow = best_channel_split(g, with_gpu(1.0, 1e5), {}, "cpu0", "gpu");
  ASSERT_TRUE(slow.has_value());
  EXPECT_GT(slow->predicted_ms, std::max(cpu_only, 100.0));
}

TEST(ChannelSplit, BadRequestsAreErrorsNamingThePart) {
  const graph::Graph g = small("vgg_like");
  const model::Profile p = with_gpu(1.0, 30);
  EXPECT_THROW(best_channel_split(g, p, {}, "cpu0", "npu"), Error);
  EXPECT_THROW(best_channel_split(g, p, {}, "cpu0", "cpu0"), Error);
  try {
    predict_channel_split(g, p, {}, {"no_such_conv", "gpu", "cpu0", 1, 2, 0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_conv"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hilsim::partition
