#include "hilsim/calibration/fit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "hilsim/model/kernel_features.h"
#include "hilsim/util/error.h"

using namespace hilsim::calibration;

namespace {

// Sample `i` of a dense 3x3 conv with these features; the caller sets its time.
Sample conv_sample(int i, decltype(Sample::features) features, const std::string& klass = "dense_conv3x3") {
  Sample x;
  x.klass = klass;
  x.instance = "i" + std::to_string(i);
  x.features = std::move(features);
  return x;
}

// Fits `s` over `names` and expects each coefficient within 1% of `want`; returns the model.
hilsim::model::KernelModel expect_recovered(const std::vector<Sample>& s, const std::vector<std::string>& names,
                                            const std::vector<double>& want) {
  auto m = fit_kernel_class(s, names);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(m.params[i], want[i], 0.01 * want[i]) << names[i];
  EXPECT_LT(m.fit_rmspe, 0.1);
  return m;
}

}  // namespace

TEST(Nnls, MatchesUnconstrainedWhenPositiveAndClampsOtherwise) {
  // y = 2 a + 3 b exactly: NNLS must return (2, 3).
  std::vector<double> a = {1, 0, 0, 1, 1, 1, 2, 1};
  std::vector<double> b = {2, 3, 5, 7};
  auto x = nnls(a, 4, 2, b);
  EXPECT_NEAR(x[0], 2, 1e-9);
  EXPECT_NEAR(x[1], 3, 1e-9);
  // y = -1 * a + 1 * b: the unconstrained fit is negative in a; NNLS must keep a at 0.
  std::vector<double> b2 = {-1, 1, 0, -1};
  auto y = nnls(a, 4, 2, b2);
  EXPECT_GE(y[0], 0);
  EXPECT_GE(y[1], 0);
}

TEST(Fit, RecoversAKnownCostModel) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> macs(1e6, 1e9), bytes(1e4, 1e7);
  std::vector<Sample> s;
  for (int i = 0; i < 60; ++i) {
    Sample x = conv_sample(i, {{"macs", macs(rng)}, {"bytes", bytes(rng)}});
    x.ms_median = 2e-8 * x.features["macs"] + 1e-7 * x.features["bytes"] + 0.01;
    s.push_back(x);
  }
  auto m = expect_recovered(s, {"macs", "bytes", "call"}, {2e-8, 1e-7, 0.01});
  EXPECT_EQ(m.samples, 60);
  bool extra = true;
  hilsim::model::evaluate_model(m, {{"macs", 5e8}, {"bytes", 1e6}}, &extra);
  EXPECT_FALSE(extra);
  hilsim::model::evaluate_model(m, {{"macs", 5e10}, {"bytes", 1e5}}, &extra);
  EXPECT_TRUE(extra);
}

// A pool's time per inner loop, apart from its bytes and compares: small maps (many loops of few
// values) and large ones (few long loops) together pin the three rates down.
TEST(Fit, RecoversAPoolsPerLoopTerm) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> side(4, 80), planes(16, 512), k(2, 5);
  std::vector<Sample> s;
  for (int i = 0; i < 40; ++i) {
    const double h = side(rng), c = planes(rng), kk = k(rng);
    const double bytes = 4 * c * h * h * 2, window = c * h * h * 2 * kk, rows = c * (h + (h + kk) * kk + h * kk);
    Sample x = conv_sample(i, {{"bytes", bytes}, {"window", window}, {"rows", rows}}, "pool");
    x.ms_median = 2e-8 * bytes + 5e-7 * window + 4e-6 * rows + 0.003;
    s.push_back(x);
  }
  expect_recovered(s, {"bytes", "window", "rows", "call"}, {2e-8, 5e-7, 4e-6, 0.003});
}

TEST(Fit, RecoversAGpuLaunchAndPerWaveTerm) {
  // A device op: 0.05 ms per launch (PoCL's enqueue and wait), 4 us per wave of work-groups, 0.02 ns per
  // MAC; small ops are mostly launch, as PoCL's were.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> macs(1e4, 5e7);
  std::uniform_int_distribution<int> waves(1, 4000), launches(1, 6);
  std::vector<Sample> s;
  for (int i = 0; i < 40; ++i) {
    Sample x = conv_sample(i, {{"macs", macs(rng)}, {"waves", waves(rng)}, {"launches", launches(rng)}});
    x.unit = "gpu";
    x.ms_median = 2e-8 * x.features["macs"] + 4e-3 * x.features["waves"] + 0.05 * x.features["launches"];
    s.push_back(x);
  }
  expect_recovered(s, {"macs", "waves", "launches"}, {2e-8, 4e-3, 0.05});
}

TEST(Fit, AHostsSlowPhaseIsSetAsideAndTheFitDescribesTheFastOne) {
  // Every third sample taken while the host ran 1.8x slower, the rest within +-3% of the truth: the
  // fit must follow the fast population, not land between the two.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> macs(1e6, 1e9), noise(0.97, 1.03);
  std::vector<Sample> s;
  for (int i = 0; i < 90; ++i) {
    Sample x = conv_sample(i, {{"macs", macs(rng)}});
    x.ms_median = (2e-8 * x.features["macs"] + 0.01) * noise(rng) * (i % 3 == 0 ? 1.8 : 1.0);
    s.push_back(x);
  }
  const auto m = fit_kernel_class(s, {"macs", "call"});
  EXPECT_NEAR(m.params[0], 2e-8, 0.05 * 2e-8);
  EXPECT_EQ(m.samples, 60);         // the slow third set aside
  EXPECT_LT(m.fit_rmspe, 3.0);      // on the samples it kept
  EXPECT_GT(rmspe(m, s), 20.0);     // the slow third is far from it
  // On a quiet host (all samples within +-3%) nothing is set aside.
  std::vector<Sample> quiet;
  for (size_t i = 0; i < s.size(); ++i)
    if (i % 3) quiet.push_back(s[i]);
  EXPECT_EQ(fit_kernel_class(quiet, {"macs", "call"}).samples, 60);
  // The policy's envelope decides what counts as slow: at 3x the fast level nothing is set aside.
  CalibrationPolicy wide;
  wide.envelope = 3.0;
  EXPECT_EQ(fit_kernel_class(s, {"macs", "call"}, wide).samples, 90);
}

TEST(Fit, NoNegativeCoefficientsEvenWhenDataSuggestsOne) {
  // Time falls with bytes in this (noisy, adversarial) data; a cost model must not learn that.
  std::vector<Sample> s;
  for (int i = 1; i <= 20; ++i) {
    Sample x;
    x.klass = "k";
    x.features = {{"macs", 1e6 * i}, {"bytes", 1e6 * (21 - i)}};
    x.ms_median = 1e-6 * i + 0.001;
    s.push_back(x);
  }
  auto m = fit_kernel_class(s, {"macs", "bytes", "call"});
  for (double p : m.params) EXPECT_GE(p, 0);
}

TEST(Fit, ATermNoSampleCarriesIsLeftOutOfTheModel) {
  // Samples measured before "window" was a pool feature refit to the model of their own build.
  std::vector<Sample> s;
  for (int i = 1; i <= 20; ++i) {
    Sample x;
    x.klass = "pool";
    x.instance = "i" + std::to_string(i);
    x.features = {{"bytes", 1e5 * i}, {"elements", 1e4 * i}, {"call", 1}};
    x.ms_median = 1e-7 * x.features["bytes"] + 0.002;
    s.push_back(x);
  }
  auto m = fit_kernel_class(s, {"bytes", "elements", "window", "call"});
  EXPECT_EQ(m.features, (std::vector<std::string>{"bytes", "elements", "call"}));
  EXPECT_EQ(m.params.size(), 3u);
  EXPECT_FALSE(m.valid_range.count("window"));
  EXPECT_NEAR(hilsim::model::evaluate_model(m, {{"bytes", 1e6}, {"elements", 1e5}}), 0.102, 0.002);
}

TEST(Fit, RejectsNonPositiveTimes) {
  Sample x;
  x.klass = "k";
  x.features = {{"macs", 1}};
  x.ms_median = 0;
  EXPECT_THROW(fit_kernel_class({x}, {"macs"}), hilsim::Error);
}

TEST(Samples, RoundTripKeepsTheKernelsDigestAndOldFilesReadAsUnknownKernels) {
  SampleSet s;
  s.device.name = "d";
  s.device.cpu_model = "c";
  s.device.os = "Linux";
  s.device.kernels = "0123456789abcdef";
  Sample x;
  x.klass = "gemm";
  x.features = {{"macs", 100}};
  x.ms_median = 0.5;
  s.samples.push_back(x);
  const std::string text = dump_samples(s);
  // One stamp: the digest in the device block, no second hand-kept version beside it.
  EXPECT_EQ(text.find("kernel_version"), std::string::npos);
  auto t = parse_samples(text, "s.json");
  ASSERT_EQ(t.samples.size(), 1u);
  EXPECT_EQ(t.samples[0].features["macs"], 100);
  EXPECT_EQ(t.device.kernels, "0123456789abcdef");
  EXPECT_EQ(samples_kernels_mismatch(t, "0123456789abcdef"), "");
  const std::string other = samples_kernels_mismatch(t, "fedcba9876543210");
  EXPECT_NE(other.find("0123456789abcdef"), std::string::npos) << other;
  EXPECT_NE(other.find("fedcba9876543210"), std::string::npos) << other;
  // A version-1 file (a hand-kept kernel_version, no digest) still loads; its kernels are unknown.
  const std::string old = R"({"schema_version": 1, "kernel_version": "kernels-3",
    "device": {"name": "d", "cpu_model": "c", "os": "Linux", "cores": 2, "caches": [], "isa": [],
               "calibrated_at": "", "hilsim_version": "", "git_sha": ""},
    "samples": [{"class": "gemm", "features": {"macs": 100}, "ms_median": 0.5}]})";
  const SampleSet legacy = parse_samples(old, "old.json");
  EXPECT_TRUE(legacy.device.kernels.empty());
  EXPECT_NE(samples_kernels_mismatch(legacy, "fedcba9876543210").find("unknown kernels"), std::string::npos);
  std::string future = text;
  future.replace(future.find("\"schema_version\": 2"), 19, "\"schema_version\": 9");
  try {
    parse_samples(future, "s.json");
    FAIL();
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema_version"), std::string::npos);
  }
}

TEST(Fit, ATermTooFewSamplesCarryIsNotFittedToTheirNoise) {
  // 30 samples of a per-MAC law; two of them also carry an activation term and ran 3x slow (a burst, or a
  // cost the term does not describe). With two carriers the term would absorb their whole residual and
  // charge every large activation for it; below min_feature_samples it stays at zero.
  std::vector<Sample> s;
  for (int i = 0; i < 30; ++i) {
    Sample x = conv_sample(i, {{"macs", 1e6 * (i + 1)}, {"act_bytes", i < 2 ? 1e4 : 0.0}});
    x.ms_median = (2e-8 * x.features["macs"] + 0.01) * (i < 2 ? 3.0 : 1.0);
    s.push_back(x);
  }
  const std::map<std::string, double> big = {{"macs", 1e8}, {"act_bytes", 1e7}};
  const double want = 2e-8 * 1e8 + 0.01;
  CalibrationPolicy loose;
  loose.min_feature_samples = 1;
  const auto overfit = fit_kernel_class(s, {"macs", "act_bytes", "call"}, loose);
  EXPECT_GT(hilsim::model::evaluate_model(overfit, big), 1.5 * want);  // what the guard is for
  const auto m = fit_kernel_class(s, {"macs", "act_bytes", "call"});
  EXPECT_EQ(m.features, (std::vector<std::string>{"macs", "act_bytes", "call"}));
  EXPECT_EQ(m.params[1], 0.0);
  EXPECT_NEAR(hilsim::model::evaluate_model(m, big), want, 0.05 * want);
  // Carried by enough samples that follow it, the same term is fitted.
  for (int i = 0; i < 6; ++i) {
    s[static_cast<size_t>(i)].features["act_bytes"] = 1e5 * (i + 1);
    s[static_cast<size_t>(i)].ms_median = 2e-8 * s[static_cast<size_t>(i)].features["macs"] + 1e-7 * 1e5 * (i + 1) + 0.01;
  }
  const auto fitted = fit_kernel_class(s, {"macs", "act_bytes", "call"});
  EXPECT_NEAR(fitted.params[1], 1e-7, 1e-8);
}

TEST(Fit, AClassWithFewSamplesPerTermIsFittedOnItsCoreTerms) {
  // A sparse class's sixteen terms, its time a law of lane MACs, weight streams and tiles plus a cost
  // per masked lane (a term outside the core). Fifteen samples are too few for sixteen terms: only the
  // core is solved for, and the masked lanes stay at zero. Sixty samples fit them all.
  const auto& names = hilsim::model::feature_names("sparse_fb8");
  ASSERT_EQ(names.size(), 16u);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.2, 1.0);
  auto samples = [&](int n) {
    std::vector<Sample> s;
    for (int i = 0; i < n; ++i) {
      Sample x = conv_sample(i, {}, "sparse_fb8");
      for (const auto& f : names) x.features[f] = f == "call" ? 1.0 : 1e6 * u(rng);
      x.ms_median = 2e-8 * x.features["lane_macs"] + 1e-8 * x.features["wstream_bytes"] + 1e-7 * x.features["tiles"] +
                    5e-8 * x.features["masked_lanes"] + 0.01;
      s.push_back(x);
    }
    return s;
  };
  auto param = [](const hilsim::model::KernelModel& m, const std::string& f) {
    return m.params[static_cast<size_t>(std::find(m.features.begin(), m.features.end(), f) - m.features.begin())];
  };
  const auto thin = fit_kernel_class(samples(15), names);
  const auto& core = hilsim::model::core_feature_names("sparse_fb8");
  for (const auto& f : names)
    if (std::find(core.begin(), core.end(), f) == core.end()) EXPECT_EQ(param(thin, f), 0.0) << f;
  EXPECT_GT(param(thin, "lane_macs"), 0.0);
  const auto full = fit_kernel_class(samples(60), names);
  EXPECT_NEAR(param(full, "masked_lanes"), 5e-8, 5e-9);
  EXPECT_NEAR(param(full, "lane_macs"), 2e-8, 2e-9);
  // The policy says how many samples a term needs: twenty are too few at three a term, enough at one.
  const auto twenty = samples(20);
  EXPECT_EQ(param(fit_kernel_class(twenty, names), "masked_lanes"), 0.0);
  CalibrationPolicy loose;
  loose.min_samples_per_term = 1;
  EXPECT_NEAR(param(fit_kernel_class(twenty, names, loose), "masked_lanes"), 5e-8, 5e-9);
}

TEST(Fit, AFarTermLeftOutOfTheFitIsStillAnchored) {
  // Two samples beyond the caches are too few to fit a far rate: the stream measurement sets it, as it
  // does where none was sampled; with enough carriers the fitted rate stands.
  std::vector<Sample> s;
  for (int i = 1; i <= 20; ++i) {
    const double bytes = i <= 2 ? 1e7 * i : 1e5 * i;
    Sample x = conv_sample(i, {{"bytes", bytes}, {"far_bytes", i <= 2 ? bytes : 0.0}}, "copy");
    x.ms_median = 1e-7 * bytes + 0.001;
    s.push_back(x);
  }
  auto m = fit_kernel_class(s, {"bytes", "far_bytes", "call"});
  EXPECT_EQ(m.params[1], 0.0);
  EXPECT_FALSE(anchor_far_rate(m, s, 3e-7));  // the old rule: any carrier keeps the fitted (zero) term
  EXPECT_TRUE(anchor_far_rate(m, s, 3e-7, CalibrationPolicy{}.min_feature_samples));
  EXPECT_NEAR(m.params[1], 3e-7 - m.params[0], 1e-12);
}

TEST(Fit, AGpuClassOfThreeSamplesIsNeverFittedToZero) {
  // A gpu class timed in context three times (ShuffleNet's copies had three Flattens): every term but
  // the launch is carried by fewer than min_feature_samples samples. The launch is still fitted, so the
  // class prices a copy above 0 ms (it priced 74 copies at 0 ms when no term was left to fit).
  std::vector<Sample> s;
  for (int i = 0; i < 3; ++i) {
    const double bytes = 4096.0 * (i + 1);
    Sample x = conv_sample(i, {{"bytes", bytes}, {"far_bytes", 0.0}, {"elements", bytes / 8}, {"launches", 1.0}}, "copy");
    x.unit = "gpu";
    x.instance = "ctx/gpu/m" + std::to_string(i);
    x.ms_median = 0.03 + 1e-6 * bytes;
    s.push_back(x);
  }
  ASSERT_LT(3, CalibrationPolicy{}.min_feature_samples);  // below the carrier rule for every other term
  const auto m = fit_kernel_class(s, {"bytes", "far_bytes", "elements", "launches"});
  const double one = hilsim::model::evaluate_model(m, s[1].features);
  EXPECT_GT(m.params[3], 0.0);
  EXPECT_NEAR(one, s[1].ms_median, 0.3 * s[1].ms_median);
}

TEST(Fit, SamplesNoTermCarriesAreAnErrorNotAZeroModel) {
  // Positive times and no term of the model among their features: the fit says so rather than pricing
  // the class at 0 ms.
  std::vector<Sample> s;
  for (int i = 0; i < 6; ++i) {
    Sample x = conv_sample(i, {{"bytes", 0.0}, {"launches", 0.0}}, "copy");
    x.unit = "gpu";
    x.ms_median = 0.05;
    s.push_back(x);
  }
  try {
    fit_kernel_class(s, {"bytes", "launches"});
    ADD_FAILURE() << "a class whose samples carry no term was fitted";
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("copy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0 ms"), std::string::npos) << e.what();
  }
}
