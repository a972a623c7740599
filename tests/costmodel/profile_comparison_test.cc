#include "hilsim/costmodel/profile_comparison.h"

#include <gtest/gtest.h>

#include <cmath>

#include "hilsim/graph/zoo.h"
#include "hilsim/util/error.h"

namespace hilsim::costmodel {
namespace {

model::Profile measured() { return model::load_profile(std::string(HILSIM_SOURCE_DIR) + "/device_profiles/x86_avx2_l3_32m_2core.json"); }

graph::Graph small_model() {
  graph::ZooOptions o;
  o.resolution = 64;
  o.width = 0.25;
  return graph::make_zoo_model("resnet18_like", o);
}

std::vector<ComparedConfig> configs() {
  return {{"dense", {}}, {"block", runtime::parse_sparsity_spec("block:8x4@0.7")},
          {"pattern", runtime::parse_sparsity_spec("pattern:2")}};
}

TEST(ProfileComparison, AProfileAgreesWithItselfExactly) {
  const model::Profile a = measured();
  const ProfileComparison c = compare_profiles(small_model(), a, a, configs(), {1, 2}, {0, "cpu0"});
  ASSERT_EQ(c.configs.size(), 6u);
  EXPECT_EQ(c.max_abs_diff, 0);
  for (const auto& d : c.configs) EXPECT_GT(d.ms_a, 0) << d.name;
  for (const auto& [k, cd] : c.classes) EXPECT_EQ(cd.max_abs_diff, 0) << k;
}

TEST(ProfileComparison, OneClassScaledShowsInThatClassAloneAndDilutedEndToEnd) {
  model::Profile a = measured();
  a.device.speed_reference = {};  // none: there is no host ratio to adjust by
  model::Profile b = a;
  ASSERT_TRUE(b.kernels.count("dense_conv3x3/t1"));
  for (double& p : b.kernels["dense_conv3x3/t1"].params) p *= 1.10;
  const ProfileComparison c = compare_profiles(small_model(), a, b, configs(), {1, 2}, {0, "cpu0"});
  ASSERT_TRUE(c.classes.count("dense_conv3x3"));
  // Every 3x3 prediction at 1 thread is up by just under 10% (the op's dispatch cost is another class's
  // and stays), at 2 threads unchanged.
  const auto& d33 = c.op_diffs.at("dense_conv3x3");
  for (double d : d33) {
    EXPECT_TRUE((d > 0.095 && d <= 0.10 + 1e-12) || std::fabs(d) < 1e-12) << d;
  }
  EXPECT_GT(c.classes.at("dense_conv3x3").max_abs_diff, 0.095);
  for (const auto& [k, cd] : c.classes) {
    if (k == "dense_conv3x3") continue;
    EXPECT_EQ(cd.max_abs_diff, 0) << k;
  }
  for (const auto& d : c.configs) {
    if (d.threads == 2) {
      EXPECT_EQ(d.diff, 0) << d.name;
    } else if (d.name == "dense") {
      EXPECT_GT(d.diff, 0.0);  // the dense 3x3 convs are a share of the model, not all of it
      EXPECT_LT(d.diff, 0.10);
    }
  }
  EXPECT_NEAR(c.max_abs_diff_host, c.max_abs_diff, 1e-12);
  EXPECT_EQ(c.host_ratio, 0);
}

TEST(ProfileComparison, AHostTenPercentSlowerAtTheSecondCalibrationIsAdjustedAway) {
  model::Profile a = measured();
  a.device.speed_reference = {"ref-workload", 5.0, 1.02, 0};
  model::Profile b = a;
  b.device.speed_reference.ms = 5.5;
  for (auto& [k, m] : b.kernels)
    for (double& p : m.params) p *= 1.10;
  const ProfileComparison c = compare_profiles(small_model(), a, b, configs(), {1}, {0, "cpu0"});
  EXPECT_NEAR(c.host_ratio, 1.10, 1e-12);
  EXPECT_NEAR(c.max_abs_diff, 0.10, 1e-6);
  EXPECT_LT(c.max_abs_diff_host, 1e-6);
  // Another workload's reference cannot be compared.
  b.device.speed_reference.workload = "other";
  EXPECT_EQ(host_ratio(a, b), 0);
}

TEST(ProfileComparison, TwoThreadConfigsAreAdjustedByTheParallelReadingsWhereBothHaveThem) {
  // The first core as fast at both calibrations, the second busier at b's: its 2-thread fits are 1.5x
  // slower, and so was its 2-thread reading. The 1-thread configurations agree as they are.
  model::Profile a = measured();
  a.device.speed_reference = {"ref-workload", 5.0, 1.02, 0, 2, 3.0};
  model::Profile b = a;
  b.device.speed_reference.parallel_ms = 4.5;
  for (auto& [k, m] : b.kernels)
    if (k.size() > 3 && k.compare(k.size() - 3, 3, "/t2") == 0)
      for (double& p : m.params) p *= 1.5;
  EXPECT_NEAR(host_ratio(a, b, 1), 1.0, 1e-12);
  EXPECT_NEAR(host_ratio(a, b, 2), 1.5, 1e-12);
  const ProfileComparison c = compare_profiles(small_model(), a, b, configs(), {1, 2}, {0, "cpu0"});
  ASSERT_EQ(c.by_threads.size(), 2u);
  EXPECT_EQ(c.by_threads.at(1).configs, 3u);
  EXPECT_LT(c.by_threads.at(1).max_abs_diff, 1e-9);
  EXPECT_NEAR(c.by_threads.at(2).host_ratio, 1.5, 1e-12);
  EXPECT_TRUE(c.by_threads.at(2).parallel_reading);
  EXPECT_FALSE(c.by_threads.at(1).parallel_reading);
  // The 2-thread predictions are up by 50% less the per-op dispatch cost, a one-thread class.
  EXPECT_GT(c.by_threads.at(2).median_abs_diff, 0.3);
  EXPECT_LT(c.by_threads.at(2).median_abs_diff_host, 0.5 * c.by_threads.at(2).median_abs_diff);
  for (const auto& d : c.configs) {
    if (d.threads == 2) {
      EXPECT_NEAR(d.diff_host, (d.ms_b / 1.5 - d.ms_a) / d.ms_a, 1e-12) << d.name;
    }
  }
  // Without a parallel reading in one of them, the one-thread ratio stands in.
  b.device.speed_reference.parallel_threads = 0;
  EXPECT_NEAR(host_ratio(a, b, 2), 1.0, 1e-12);
}

TEST(ProfileComparison, MergingPoolsConfigsAndOps) {
  const model::Profile a = measured();
  model::Profile b = a;
  for (double& p : b.kernels["dense_conv1x1/t1"].params) p *= 0.9;
  const auto x = compare_profiles(small_model(), a, b, configs(), {1}, {0, "cpu0"});
  const auto y = compare_profiles(small_model(), a, a, configs(), {1}, {0, "cpu0"});
  const auto m = merge_comparisons({x, y});
  EXPECT_EQ(m.configs.size(), x.configs.size() + y.configs.size());
  EXPECT_EQ(m.max_abs_diff, x.max_abs_diff);
  EXPECT_EQ(m.classes.at("dense_conv1x1").ops, 2 * x.classes.at("dense_conv1x1").ops);
}

TEST(ProfileComparison, AConfigAProfileCannotPredictIsNamed) {
  const model::Profile a = measured();
  runtime::SparsitySpec bad;
  bad.layers["no_such_op"] = runtime::parse_layer_spec("block:8x4@0.5");
  try {
    compare_profiles(small_model(), a, a, {{"bad-config", bad}}, {1}, {0, "cpu0"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad-config"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hilsim::costmodel
