#include "hilsim/calibration/speed_reference.h"

#include <gtest/gtest.h>

#include <cmath>

#include "hilsim/calibration/device_facts.h"
#include "hilsim/util/error.h"

using namespace hilsim::calibration;

TEST(SpeedReference, SummaryIsTheFastLevelWithSpreadAndDrift) {
  // Readings (given out of order) at 10, 11 and 12 ms: the host got 20% slower over the calibration.
  // The level kept is the undisturbed one, the 10th percentile of the (smoothed) readings.
  std::vector<Sample> r = {speed_reference_sample({12, 12, 13}, 300, 2), speed_reference_sample({10, 10, 12}, 100, 0),
                           speed_reference_sample({11, 11, 11}, 200, 1)};
  r.push_back(Sample{"dense_conv3x3", "other", {{"threads", 1}, {"t_unix", 150}}, 1, 1, 1, 3});
  const auto s = summarize_speed_reference(r);
  EXPECT_EQ(s.workload, speed_reference_workload());
  EXPECT_NEAR(s.ms, 10.2, 1e-9);
  EXPECT_GT(s.spread, 1.0);
  EXPECT_NEAR(s.drift, 0.2, 1e-9);
  EXPECT_TRUE(summarize_speed_reference({}).workload.empty());
}

TEST(SpeedReference, DriftCorrectionScalesSamplesToTheFastLevel) {
  SampleSet set;
  set.samples = {speed_reference_sample({10, 10, 10}, 100, 0), speed_reference_sample({12, 12, 12}, 200, 1),
                 speed_reference_sample({14, 14, 14}, 300, 2)};
  auto at = [](double t, double ms) {
    return Sample{"gemm", "g" + std::to_string(t), {{"threads", 1}, {"t_unix", t}}, ms, ms, ms, 5};
  };
  // Levels 10, 12 (the median of 10, 12, 14), 14; the fast level is their 10th percentile, 10.4.
  set.samples.push_back(at(100, 1.0));   // host at 10 ms, faster than the fast level: scaled up
  set.samples.push_back(at(250, 1.3));   // 13 ms interpolated: scaled down
  set.samples.push_back(at(400, 1.4));   // after the last reading: the last one (14)
  set.samples.push_back(Sample{"gemm", "unstamped", {{"threads", 1}}, 2.0, 2.0, 2.0, 5});
  DriftCorrection d;
  const SampleSet c = scale_by_host(set, host_factors(set, &d), 1.0);
  EXPECT_EQ(d.readings, 3);
  EXPECT_EQ(d.corrected, 3);
  EXPECT_NEAR(c.samples[3].ms_p10, 1.0 * 10.4 / 10, 1e-9);
  EXPECT_NEAR(c.samples[4].ms_p10, 1.3 * 10.4 / 13, 1e-9);
  EXPECT_NEAR(c.samples[5].ms_median, 1.4 * 10.4 / 14, 1e-9);
  EXPECT_EQ(c.samples[6].ms_p10, 2.0);
  EXPECT_EQ(c.samples[0].ms_p10, 10.0);  // the readings themselves stay as measured
  EXPECT_NEAR(d.min_factor, 10.0 / 10.4, 1e-9);
  EXPECT_NEAR(d.max_factor, 14.0 / 10.4, 1e-9);
  // At another exponent the same factors move the samples less.
  const std::vector<double> f = host_factors(set);
  EXPECT_NEAR(scale_by_host(set, f, 0.5).samples[5].ms_p10, 1.4 / std::sqrt(14 / 10.4), 1e-9);
  EXPECT_EQ(scale_by_host(set, f, 0.0).samples[5].ms_p10, 1.4);
  EXPECT_THROW(scale_by_host(set, {1.0}, 1.0), hilsim::Error);
  // A reading that disagrees with both neighbours is a burst: the samples around it are left alone.
  SampleSet burst;
  burst.samples = {speed_reference_sample({10}, 100, 0), speed_reference_sample({20}, 200, 1),
                   speed_reference_sample({10}, 300, 2), at(200, 1.0)};
  EXPECT_NEAR(scale_by_host(burst, host_factors(burst), 1.0).samples[3].ms_p10, 1.0, 1e-12);
  // One reading gives nothing to correct by.
  set.samples.erase(set.samples.begin() + 1, set.samples.begin() + 3);
  EXPECT_EQ(scale_by_host(set, host_factors(set, &d), 1.0).samples[1].ms_p10, 1.0);
  EXPECT_EQ(d.corrected, 0);
}

TEST(SpeedReference, SlowdownOnlyAgainstTheSameWorkload) {
  hilsim::model::DeviceInfo d;
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);  // no reading in the profile
  d.speed_reference = summarize_speed_reference({speed_reference_sample({4.0}, 1, 0)});
  EXPECT_NEAR(host_slowdown(d, 5.0), 1.25, 1e-12);
  EXPECT_EQ(host_slowdown(d, 0.0), 0.0);
  d.kernels = build_kernels_digest();
  EXPECT_NEAR(host_slowdown(d, 5.0), 1.25, 1e-12);
  // Timed by other kernels (the profile's digest differs from this build's): not comparable.
  d.kernels = "0000000000000000";
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);
  d.kernels.clear();  // no digest recorded: taken at its word
  // Readings from before the digest named the kernels by a ", kernels-N" tail: the same workload.
  d.speed_reference.workload = speed_reference_workload() + ", kernels-3";
  EXPECT_NEAR(host_slowdown(d, 5.0), 1.25, 1e-12);
  d.speed_reference.workload = speed_reference_workload() + ", kernels-";
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);
  d.speed_reference.workload = "another workload";
  EXPECT_EQ(host_slowdown(d, 5.0), 0.0);
}

TEST(SpeedReference, ParallelReadingsGiveTheirOwnLevelAndStayOutOfTheDriftCorrection) {
  // One-thread readings at 10, 11, 12 ms; two-thread ones at 6 then 9 ms (the second core got busy).
  std::vector<Sample> r = {speed_reference_sample({10}, 100, 0), speed_reference_sample({6}, 101, 1, 2),
                           speed_reference_sample({11}, 200, 2), speed_reference_sample({9}, 201, 3, 2),
                           speed_reference_sample({12}, 300, 4)};
  EXPECT_EQ(r[1].features.at("threads"), 2.0);
  EXPECT_NE(r[1].instance, r[0].instance);
  const auto s = summarize_speed_reference(r);
  EXPECT_NEAR(s.ms, 10.2, 1e-9);  // as without the parallel readings
  EXPECT_NEAR(s.drift, 0.2, 1e-9);
  EXPECT_EQ(s.parallel_threads, 2);
  EXPECT_NEAR(s.parallel_ms, 6.3, 1e-9);  // the 10th percentile of 6 and 9
  // Drift correction reads the one-thread readings alone.
  SampleSet set;
  set.samples = r;
  set.samples.push_back(Sample{"gemm", "g", {{"threads", 1}, {"t_unix", 200}}, 1.1, 1.1, 1.1, 5});
  DriftCorrection d;
  const std::vector<double> f = host_factors(set, &d);
  EXPECT_EQ(d.readings, 3);
  EXPECT_NEAR(f.back(), 11.0 / 10.2, 1e-9);
  // Against a profile: the slowdown on 2 threads, none at a count the profile did not read.
  hilsim::model::DeviceInfo dev;
  dev.speed_reference = s;
  EXPECT_NEAR(host_parallel_slowdown(dev, 2, 12.6), 2.0, 1e-9);
  EXPECT_EQ(host_parallel_slowdown(dev, 4, 12.6), 0.0);
  EXPECT_EQ(host_parallel_slowdown(dev, 1, 12.6), 0.0);
  // No one-thread reading: nothing is summarised.
  EXPECT_TRUE(summarize_speed_reference({speed_reference_sample({6}, 101, 1, 2)}).workload.empty());
}

TEST(SpeedReference, TimesTheWorkloadOnSeveralThreads) {
  SpeedReferenceRun run(2);
  const auto t = run.time(2);
  ASSERT_EQ(t.size(), 2u);
  for (double v : t) EXPECT_GT(v, 0.0);
}

TEST(SpeedReference, TimesTheWorkload) {
  SpeedReferenceRun run;
  const auto t = run.time(3);
  ASSERT_EQ(t.size(), 3u);
  for (double v : t) EXPECT_GT(v, 0.0);
}

TEST(SpeedReference, SlowPhaseIsJudgedAgainstTheFastLevelOfAllReadings) {
  EXPECT_FALSE(slow_phase({}));
  EXPECT_FALSE(slow_phase({5, 9}));  // too few to know the fast level
  EXPECT_TRUE(slow_phase({5, 5.2, 5.1, 9.5}));
  EXPECT_FALSE(slow_phase({5, 5.2, 5.1, 5.9}));
  EXPECT_FALSE(slow_phase({9, 9.5, 9.2, 9.8}));  // slow throughout: that is this host's level
}

TEST(SpeedReference, TheWorkloadRunsOnKernelsAloneAndTimesEachPass) {
  SpeedReferenceRun ref;
  const std::vector<double> t = ref.time(3);
  ASSERT_EQ(t.size(), 3u);
  for (double ms : t) EXPECT_GT(ms, 0);
  // The workload names what is timed; the kernels that timed it are the profile's digest alone.
  EXPECT_EQ(speed_reference_workload().find("kernels-"), std::string::npos);
}
