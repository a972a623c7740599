#include "hilsim/calibration/energy_calibration.h"

#include <gtest/gtest.h>

#include <chrono>

#include "hilsim/calibration/calibrator.h"

using namespace hilsim::calibration;

namespace {

// A counter that reads a fixed power: joules = watts x the wall time between start and stop.
class ConstantPower : public EnergyCounter {
 public:
  explicit ConstantPower(double w) : w_(w) {}
  std::string source() const override { return "rapl"; }
  std::string description() const override { return "fake"; }
  void start() override { t0_ = std::chrono::steady_clock::now(); }
  double stop_joules() override {
    return w_ * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  double w_;
  std::chrono::steady_clock::time_point t0_;
};

Sample energy_sample(const std::string& workload, double flops, double dram, double cache, double s, double j,
                     const std::string& source = "rapl") {
  Sample x;
  x.klass = kEnergyClass;
  x.instance = std::string(kEnergyClass) + "/" + source + "/" + workload + "/0";
  x.features = {{"flops", flops}, {"dram_bytes", dram}, {"cache_bytes", cache}, {"seconds", s}, {"joules", j}};
  x.ms_median = x.ms_p10 = x.ms_p90 = s * 1e3;
  return x;
}

}  // namespace

TEST(EnergyCalibration, RecoversKnownCoefficients) {
  // 30 pJ/FLOP, 150 pJ/DRAM byte, 8 pJ/cache byte, 4 W static.
  auto j = [](double f, double d, double c, double s) { return 30e-12 * f + 150e-12 * d + 8e-12 * c + 4.0 * s; };
  std::vector<Sample> ss = {
      energy_sample("idle", 0, 0, 0, 0.5, j(0, 0, 0, 0.5)),
      energy_sample("fma", 2e10, 0, 0, 0.5, j(2e10, 0, 0, 0.5)),
      energy_sample("cache_copy", 0, 0, 6e10, 0.5, j(0, 0, 6e10, 0.5)),
      energy_sample("dram_copy", 0, 5e9, 0, 0.5, j(0, 5e9, 0, 0.5)),
      energy_sample("dram_copy", 0, 4e9, 0, 0.4, j(0, 4e9, 0, 0.4)),
  };
  EnergyFit f;
  ASSERT_TRUE(fit_energy(ss, &f));
  EXPECT_EQ(f.spec.source, "rapl");
  EXPECT_NEAR(f.spec.pj_per_flop, 30, 1e-6);
  EXPECT_NEAR(f.spec.pj_per_byte, 150, 1e-6);
  EXPECT_NEAR(f.spec.pj_per_byte_cache, 8, 1e-6);
  EXPECT_NEAR(f.spec.static_w, 4, 1e-9);
  EXPECT_LT(f.rmspe, 1e-6);
  EXPECT_NE(f.spec.basis.find("rapl"), std::string::npos);
}

TEST(EnergyCalibration, RefusesTooFewMixedOrDeadCountersAndSaysWhich) {
  EnergyFit f;
  f.spec.source = "untouched";
  std::string why;
  EXPECT_FALSE(fit_energy({}, &f, &why));
  EXPECT_NE(why.find("no energy counter was readable"), std::string::npos) << why;
  std::vector<Sample> ss = {energy_sample("idle", 0, 0, 0, 0.5, 2), energy_sample("fma", 1e9, 0, 0, 0.5, 3),
                            energy_sample("cache_copy", 0, 0, 1e9, 0.5, 3)};
  EXPECT_FALSE(fit_energy(ss, &f, &why));  // three workloads for four unknowns
  EXPECT_NE(why.find("only 3 of 3"), std::string::npos) << why;
  ss.push_back(energy_sample("dram_copy", 0, 1e9, 0, 0.5, 4, "ina"));
  EXPECT_FALSE(fit_energy(ss, &f, &why));  // two counters
  EXPECT_NE(why.find("2 different counters (ina, rapl)"), std::string::npos) << why;
  ss.back() = energy_sample("dram_copy", 0, 1e9, 0, 0.5, 0);
  EXPECT_FALSE(fit_energy(ss, &f, &why));  // a counter that never moved is no reading
  EXPECT_NE(why.find("only 3 of 4"), std::string::npos) << why;
  for (Sample& s : ss) s.instance = energy_instance("thermometer", "idle", 0);
  EXPECT_FALSE(fit_energy(ss, &f, &why));
  EXPECT_NE(why.find("'thermometer'"), std::string::npos) << why;
  ss[0].instance = "energy";
  EXPECT_FALSE(fit_energy(ss, &f, &why));
  EXPECT_NE(why.find("does not name its counter"), std::string::npos) << why;
  EXPECT_EQ(f.spec.source, "untouched");
}

TEST(EnergyCalibration, MeasuredConstantPowerIsAllStatic) {
  ConstantPower c(3.0);
  const std::vector<Sample> ss = measure_energy(c, 0.05, 1);
  ASSERT_EQ(ss.size(), 4u);
  for (const Sample& s : ss) {
    EXPECT_EQ(s.klass, kEnergyClass);
    EXPECT_GT(s.features.at("seconds"), 0.04);
  }
  EXPECT_GT(ss[1].features.at("flops"), 0);
  EXPECT_GT(ss[2].features.at("cache_bytes"), 0);
  EXPECT_GT(ss[3].features.at("dram_bytes"), 0);
  EnergyFit f;
  ASSERT_TRUE(fit_energy(ss, &f));
  EXPECT_NEAR(f.spec.static_w, 3.0, 0.03);
  EXPECT_LT(f.spec.pj_per_flop, 0.5);  // pJ; a busy workload drew no more than idle
}

TEST(EnergyCalibration, FitProfileTakesTheCounterOverTheEstimate) {
  SampleSet set;
  auto j = [](double f, double d, double c, double s) { return 30e-12 * f + 150e-12 * d + 8e-12 * c + 4.0 * s; };
  set.samples = {energy_sample("idle", 0, 0, 0, 0.5, j(0, 0, 0, 0.5)), energy_sample("fma", 2e10, 0, 0, 0.5, j(2e10, 0, 0, 0.5)),
                 energy_sample("cache_copy", 0, 0, 6e10, 0.5, j(0, 0, 6e10, 0.5)),
                 energy_sample("dram_copy", 0, 5e9, 0, 0.5, j(0, 5e9, 0, 0.5))};
  const hilsim::model::Profile p = fit_profile(set);
  EXPECT_EQ(p.energy.source, "rapl");
  EXPECT_NEAR(p.energy.static_w, 4, 1e-6);
  EXPECT_TRUE(p.kernels.empty());  // energy samples are not a kernel class
  set.samples.pop_back();
  EXPECT_EQ(fit_profile(set).energy.source, "estimate");
}
