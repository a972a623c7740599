#include "hilsim/calibration/crossing.h"

#include <gtest/gtest.h>

#include <thread>

#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/runtime/units.h"

namespace hilsim::calibration {
namespace {

Sample synthetic(const std::string& klass, double bytes, double ms) {
  Sample s;
  s.klass = klass;
  s.unit = "gpu";
  s.instance = klass + "/" + std::to_string(bytes);
  s.features = {{"bytes", bytes}, {"call", 1.0}, {"threads", 1.0}};
  s.ms_median = s.ms_p10 = s.ms_p90 = ms;
  return s;
}

TEST(Crossing, FitRecoversTheFixedPartTheBandwidthAndTheSyncTerm) {
  // 25 us per copy + 2 GB/s; the hand-off 30 us (median of three runs, one disturbed).
  std::vector<Sample> copies;
  for (double bytes : {64.0, 4096.0, 65536.0, 524288.0, 4194304.0}) copies.push_back(synthetic("transfer", bytes, 0.025 + bytes / 2e9 * 1e3));
  const std::vector<Sample> syncs = {synthetic("sync", 0, 0.028), synthetic("sync", 0, 0.030), synthetic("sync", 0, 0.2)};
  const auto t = fit_crossing(copies, syncs, "synthetic");
  ASSERT_TRUE(t.has_value());
  EXPECT_NEAR(t->latency_us, 25.0, 0.5);
  EXPECT_NEAR(t->gbps, 2.0, 0.05);
  EXPECT_NEAR(t->sync_us, 30.0, 1e-9);
  EXPECT_EQ(t->source, "measured");
  EXPECT_NE(t->basis.find("synthetic"), std::string::npos);
  // Without sync samples the term is 0, not invented; one copy is too few to fit.
  EXPECT_EQ(fit_crossing(copies, {}, "x")->sync_us, 0.0);
  EXPECT_FALSE(fit_crossing({copies[0]}, syncs, "x").has_value());
}

TEST(Crossing, CopiesInsideModelRunsSetTheFixedPartAndKeepTheBandwidth) {
  // Back-to-back copies: 5 us + 2 GB/s. Inside runs each copy took 20 us plus its bytes (an op's two
  // copies, 40 us): the fixed part is the runs', the bandwidth the blocking copies'.
  std::vector<Sample> copies;
  for (double bytes : {64.0, 4096.0, 65536.0, 524288.0, 4194304.0}) copies.push_back(synthetic("transfer", bytes, 0.005 + bytes / 2e9 * 1e3));
  auto in_run = [](double bytes, int n) {
    Sample s = synthetic("transfer", bytes, n * 0.020 + bytes / 2e9 * 1e3);
    s.features["call"] = n, s.features["in_context"] = 1;
    return s;
  };
  std::vector<Sample> with = copies;
  for (auto [bytes, n] : {std::pair{307200.0, 1}, {2048.0, 1}, {600000.0, 2}, {4000.0, 1}}) with.push_back(in_run(bytes, n));
  const auto t = fit_crossing(with, {}, "synthetic");
  ASSERT_TRUE(t.has_value());
  EXPECT_NEAR(t->latency_us, 20.0, 0.5);
  EXPECT_NEAR(t->gbps, 2.0, 0.05);
  EXPECT_NE(t->basis.find("inside model runs"), std::string::npos);
  // Fewer than kMinContextCopies leave the back-to-back figure, which is then what the basis says.
  with.resize(copies.size() + kMinContextCopies - 1);
  EXPECT_NEAR(fit_crossing(with, {}, "synthetic")->latency_us, 5.0, 0.5);
  EXPECT_EQ(fit_crossing(with, {}, "synthetic")->basis.find("inside model runs"), std::string::npos);
}

TEST(Crossing, ManyCopiesInsideRunsOverWideSizesSetTheBandwidthToo) {
  // Back to back: 5 us + 2 GB/s. Inside runs: 12 us + 1 GB/s over 2 KB..600 KB (sources out of the
  // copying core's caches).
  std::vector<Sample> copies;
  for (double bytes : {64.0, 4096.0, 65536.0, 524288.0, 4194304.0}) copies.push_back(synthetic("transfer", bytes, 0.005 + bytes / 2e9 * 1e3));
  auto in_run = [](double bytes, double gbps) {
    Sample s = synthetic("transfer", bytes, 0.012 + bytes / gbps * 1e3);
    s.features["in_context"] = 1;
    return s;
  };
  std::vector<Sample> with = copies;
  for (double bytes : {2048.0, 9000.0, 40000.0, 77000.0, 150000.0, 600000.0}) with.push_back(in_run(bytes, 1e9));
  auto t = fit_crossing(with, {}, "synthetic");
  ASSERT_TRUE(t.has_value());
  EXPECT_NEAR(t->latency_us, 12.0, 0.5);
  EXPECT_NEAR(t->gbps, 1.0, 0.05);
  EXPECT_NE(t->basis.find("latency and bandwidth from 6 copies inside model runs"), std::string::npos);
  // Faster inside runs than back to back: the blocking bandwidth stays, the runs' fixed part is kept.
  with.resize(copies.size());
  for (double bytes : {2048.0, 9000.0, 40000.0, 77000.0, 150000.0, 600000.0}) with.push_back(in_run(bytes, 4e9));
  t = fit_crossing(with, {}, "synthetic");
  EXPECT_NEAR(t->gbps, 2.0, 0.05);
  EXPECT_EQ(t->basis.find("latency and bandwidth"), std::string::npos);
  EXPECT_NE(t->basis.find("inside model runs"), std::string::npos);
  // Sizes too close together to tell a bandwidth: the blocking one.
  with.resize(copies.size());
  for (double bytes : {40000.0, 50000.0, 60000.0, 70000.0, 80000.0, 90000.0}) with.push_back(in_run(bytes, 1e9));
  EXPECT_NEAR(fit_crossing(with, {}, "synthetic")->gbps, 2.0, 0.05);
}

TEST(Crossing, CorunShareIsBusyOverAlone) {
  Sample alone = synthetic("corun", 0, 2.0), busy = synthetic("corun", 0, 3.0);
  alone.features["busy"] = 0, busy.features["busy"] = 1;
  EXPECT_NEAR(*fit_corun({alone, busy}), 0.5, 1e-12);
  EXPECT_EQ(*fit_corun({busy, synthetic("corun", 0, 3.5)}), 0.0);  // faster when busy: no share, not a negative one
  EXPECT_FALSE(fit_corun({alone}).has_value());
  EXPECT_FALSE(fit_corun({}).has_value());
}

TEST(Crossing, MeasuredOnTheDeviceWhereThereIsOne) {
  const std::string why = kernels::opencl::ClContext::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no OpenCL device: " << why;
  const runtime::UnitDef gpu = runtime::parse_units("gpu").at(0);
  const std::vector<Sample> copies = measure_gpu_copies(gpu, 3);
  ASSERT_EQ(copies.size(), 10u);  // five sizes, both ways
  for (const Sample& s : copies) {
    EXPECT_EQ(s.klass, "transfer");
    EXPECT_EQ(s.unit, "gpu");
    EXPECT_GT(s.ms_median, 0) << s.instance;
    EXPECT_EQ(s.repeats, 3);
  }
  const int other = std::thread::hardware_concurrency() > 1 ? 1 : 0;
  const Sample sync = measure_gpu_sync(gpu, other, 5);
  EXPECT_EQ(sync.klass, "sync");
  EXPECT_EQ(sync.repeats, 5);
  EXPECT_GE(sync.ms_p10, 0);
  const auto t = fit_crossing(copies, {sync}, "device");
  ASSERT_TRUE(t.has_value());
  EXPECT_GT(t->gbps, 0);
  const std::vector<Sample> corun = measure_gpu_corun(gpu, other, 3);
  ASSERT_EQ(corun.size(), 2u);
  for (const Sample& s : corun) EXPECT_GT(s.ms_p10, 0) << s.instance;
  EXPECT_TRUE(fit_corun(corun).has_value());
}

}  // namespace
}  // namespace hilsim::calibration
