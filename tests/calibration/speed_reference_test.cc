#include "hilsim/calibration/speed_reference.h"

#include <gtest/gtest.h>

using namespace hilsim::calibration;

TEST(SpeedReference, SummaryIsP10WithSpreadAndDrift) {
  // Start readings around 10 ms, end readings around 12 ms: the host got 20% slower.
  const std::vector<double> start = {10, 10, 10, 11, 14}, end = {12, 12, 12, 13, 15};
  const auto r = summarize_speed_reference(start, end);
  EXPECT_EQ(r.workload, speed_reference_workload());
  EXPECT_NEAR(r.ms, 10.0, 1e-9);  // p10 of the ten runs
  EXPECT_GT(r.spread, 1.0);
  EXPECT_NEAR(r.drift, 0.2, 1e-9);
  // Only a start reading (an interrupted calibration): no drift to report.
  EXPECT_EQ(summarize_speed_reference(start, {}).drift, 0.0);
  EXPECT_TRUE(summarize_speed_reference({}, {}).workload.empty());
}

TEST(SpeedReference, SlowdownOnlyAgainstTheSameWorkload) {
  hilsim::costmodel::DeviceInfo d;
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);  // no reading in the profile
  d.speed_reference = summarize_speed_reference({4.0}, {4.0});
  EXPECT_NEAR(host_slowdown(d, 5.0), 1.25, 1e-12);
  EXPECT_EQ(host_slowdown(d, 0.0), 0.0);
  d.speed_reference.workload = "another workload, kernels-0";  // other kernels: not comparable
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);
}

TEST(SpeedReference, TimesTheWorkload) {
  SpeedReferenceRun run;
  const auto t = run.time(3);
  ASSERT_EQ(t.size(), 3u);
  for (double v : t) EXPECT_GT(v, 0.0);
}
