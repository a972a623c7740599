// Each tuned value of calibration_policy.h reaches its branch: set a field, see the behaviour move.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/calibrator.h"
#include "hilsim/calibration/speed_reference.h"
#include "calibration/calibration_testing.h"

namespace hilsim::calibration {
namespace {

TEST(CalibrationPolicy, SlowPhaseRatioDecidesWhatCountsAsSlow) {
  const std::vector<double> readings = {5, 5.2, 5.1, 5.9};  // the last 18% over the fast level
  EXPECT_FALSE(slow_phase(readings));                       // default ratio 1.25
  CalibrationPolicy strict;
  strict.slow_phase_ratio = 1.1;
  EXPECT_TRUE(slow_phase(readings, strict));
}

TEST(CalibrationPolicy, DesignSharesPutRealLayerKindsIntoTheGrid) {
  CalibrationPolicy none, all;
  none.grouped_conv_share = 1.0, none.far_gemm_share = 1.0, none.global_pool_share = 1.0;
  none.token_gemm_share = 1.0;
  all.grouped_conv_share = 0.0, all.far_gemm_share = 0.0, all.global_pool_share = 0.0;
  none.late_layer_share = 0.0;
  for (const auto& p : design("dense_conv3x3", 1, 24, 1, none)) EXPECT_EQ(p.groups, 1) << p.key();
  // Late layers: small maps, ungrouped ones with large weights (the cap shrinks their channels, not
  // their maps); grouped ones keep their group widths.
  CalibrationPolicy late;
  late.late_layer_share = 1.0;
  for (const char* klass : {"dense_conv3x3"})
    for (const auto& p : design(klass, 1, 24, 1, late)) {
      EXPECT_LE(p.h, 8) << p.key();
      if (p.groups == 1) {
        EXPECT_GE(p.c * p.f * p.k * p.k * 4, int64_t{256} << 10) << p.key();
      }
    }
  for (const auto& p : design("dense_conv3x3", 1, 24, 1, all)) {
    EXPECT_GT(p.groups, 1) << p.key();
    EXPECT_EQ(p.c % p.groups, 0) << p.key();
    EXPECT_LE(p.c / p.groups, 64) << p.key();  // grouped, not depthwise
  }
  for (const auto& p : design("gemm", 1, 24, 1, all)) EXPECT_GE(4 * p.c * p.f, int64_t{8} << 20) << p.key();
  for (const auto& p : design("gemm", 1, 24, 1, none)) EXPECT_LE(p.c, 4096) << p.key();
  for (const auto& p : design("pool", 1, 24, 1, all)) EXPECT_EQ(p.op, "global_avgpool") << p.key();
  CalibrationPolicy tokens;
  tokens.token_gemm_share = 0.0;
  for (const auto& p : design("gemm", 1, 24, 1, tokens)) EXPECT_GE(p.h, 4) << p.key();
  for (const auto& p : design("gemm", 1, 24, 1, none)) EXPECT_EQ(p.h, 1) << p.key();
  for (const auto& p : design("pool", 1, 24, 1, none)) EXPECT_EQ(p.op, "maxpool") << p.key();
  // Caps: a smaller MAC cap shrinks the conv samples.
  CalibrationPolicy small;
  small.max_sample_macs = 10'000'000;
  auto largest = [](const std::vector<KernelPoint>& ps) {
    int64_t m = 0;
    for (const auto& p : ps) m = std::max(m, p.c / p.groups * p.f * (p.h / p.stride) * (p.w / p.stride));
    return m;
  };
  EXPECT_LT(largest(design("dense_conv1x1", 1, 24, 1, small)), largest(design("dense_conv1x1", 1, 24, 1)));
}

TEST(CalibrationPolicy, ContextShareZeroLeavesOutTheInContextRuns) {
  const std::string out = std::string(HILSIM_BINARY_DIR) + "/test_policy_profile.json";
  CalibrateOptions o = elementwise_calibration(out, 0.5);
  o.policy.context_share = 0;
  o.policy.reference_runs = 3;
  o.policy.slow_phase_max_tries = 0;  // no waiting for a fast phase either
  const CalibrateResult r = calibrate(o);
  int context = 0;
  for (const auto& s : r.samples.samples) context += s.instance.rfind("ctx/", 0) == 0;
  EXPECT_EQ(context, 0);
  EXPECT_EQ(r.waited_s, 0);
  std::filesystem::remove(out + ".samples.json");
  std::filesystem::remove(out);
}

TEST(CalibrationPolicy, ValuesAreListedByName) {
  const auto rows = policy_values(CalibrationPolicy{});
  EXPECT_GE(rows.size(), 25u);
  bool found = false;
  for (const auto& [name, v] : rows)
    if (name == "slow_phase_ratio") {
      found = true;
      EXPECT_DOUBLE_EQ(v, 1.25);
    }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace hilsim::calibration
