#include "hilsim/calibration/runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "hilsim/calibration/calibrator.h"
#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/roofline.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {
namespace {

CalibrationPolicy quick() {
  CalibrationPolicy o;
  o.sample_min_time_s = 0.001;
  o.sample_min_rounds = 3;
  o.sample_max_rounds = 20;
  o.cold_round_bytes = 1 << 18;
  return o;
}

KernelPoint small(const std::string& klass, uint64_t seed = 3) {
  KernelPoint p = design(klass, 1, 1, seed)[0];
  const bool depthwise = p.groups > 1 && p.groups == p.c;
  const int64_t group_width = p.groups > 1 ? p.c / p.groups : 0;
  p.c = std::min<int64_t>(p.c, 32), p.f = std::min<int64_t>(p.f, 32), p.h = p.w = std::min<int64_t>(p.h, 12);
  if (depthwise) p.groups = p.f = p.c;
  else if (group_width > 0) p.groups = std::max<int64_t>(2, p.c / group_width), p.c = p.f = p.groups * group_width;
  if (p.h < p.k) p.h = p.w = p.k;
  return p;
}

TEST(KernelRunner, TimesRealKernelsWithOrderedQuantiles) {
  for (const char* klass : {"dense_conv3x3", "depthwise_conv3x3", "sparse_fb1", "sparse_fb8", "gemm", "pool",
                            "elementwise", "concat", "resize", "copy"}) {
    const KernelPoint p = small(klass);
    const Sample s = run_point(p, {}, quick());
    EXPECT_EQ(s.klass, klass) << p.key();
    EXPECT_EQ(s.instance, p.key());
    EXPECT_GT(s.ms_median, 0) << p.key();
    EXPECT_LE(s.ms_p10, s.ms_median);
    EXPECT_LE(s.ms_median, s.ms_p90);
    EXPECT_GE(s.repeats, 3);
    EXPECT_EQ(s.features.at("call"), 1.0);
    EXPECT_EQ(s.features.at("threads"), 1.0);
    for (const auto& f : model::feature_names(klass)) EXPECT_TRUE(s.features.count(f)) << klass << " lacks " << f;
  }
  // A sparse kernel executes fewer MACs than its dense shape.
  KernelPoint sp = small("sparse_fb8");
  sp.format = "block", sp.bf = 8, sp.bc = 4, sp.ratio = 0.75, sp.k = 3, sp.c = 32, sp.f = 32;
  const Sample s = run_point(sp, {}, quick());
  EXPECT_LT(s.features.at("macs"), 0.5 * static_cast<double>(sp.macs()));
}

// The standalone runner times the same many-input concats and batch norms as the in-context one.
TEST(KernelRunner, TimesManyInputConcatsAndBatchNorms) {
  KernelPoint cat;
  cat.klass = "concat", cat.op = "concat", cat.c = 16, cat.f = 8, cat.h = cat.w = 7, cat.inputs = 24, cat.k = 0;
  Sample s = run_point(cat, {}, quick());
  EXPECT_EQ(s.features.at("inputs"), 24.0);
  EXPECT_GT(s.ms_median, 0);
  // A detector head's concat along the last axis: the same bytes, a run per input per pixel.
  cat.inputs = 3, cat.concat_axis = 2;
  s = run_point(cat, {}, quick());
  EXPECT_EQ(s.features.at("extra_runs"), 3.0 * (49 - 1));
  EXPECT_GT(s.ms_median, 0);
  KernelPoint bn;
  bn.klass = "elementwise", bn.op = "affine", bn.c = 24, bn.h = bn.w = 10;
  s = run_point(bn, {}, quick());
  EXPECT_EQ(s.klass, "elementwise");
  EXPECT_EQ(s.features.at("bytes"), 2.0 * 4 * 24 * 100);
  EXPECT_GT(s.ms_median, 0);
}

// A detector run in context times its adds, concats (SPPF's of four inputs), pools and upsamples
// between the convs, each its own sample with instance_of()'s features.
TEST(KernelRunner, RunContextTimesTheMemoryOps) {
  const ContextRun r{"zoo:yolov5s_like@64x0.25", "", 1};
  const std::vector<KernelPoint> layers = context_layers(r);
  const std::vector<Sample> got = run_context(r, {}, 2);
  ASSERT_EQ(got.size(), layers.size());
  std::map<std::string, int> memory;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].instance, r.key() + "/L" + std::to_string(i));
    EXPECT_EQ(got[i].klass, layers[i].klass);
    EXPECT_GT(got[i].ms_median, 0) << layers[i].key();
    model::KernelInstance k = instance_of(layers[i]);
    model::place_operands(k, context_reuse_bytes(r), host_llc_bytes());  // where the whole model leaves them
    std::map<std::string, double> f = model::features_of(k);
    f["threads"] = 1;
    EXPECT_EQ(got[i].features, f) << layers[i].key();
    if (layers[i].op != "conv" && layers[i].op != "gemm") ++memory[layers[i].klass];
  }
  for (const char* k : {"elementwise", "concat", "pool", "resize"}) EXPECT_GT(memory[k], 0) << k;
}

TEST(KernelRunner, TransferAndRooflineArePositive) {
  const Sample t = run_transfer(65536, 0, 1);
  EXPECT_EQ(t.klass, "transfer");
  EXPECT_GT(t.ms_median, 0);
  EXPECT_LE(t.ms_p10, t.ms_p90);
  EXPECT_GT(stream_gbps(measure_stream(1, 4 << 20, 2)), 0.1);
  EXPECT_GT(peak_gflops(measure_peak(1, 0.002)), 0.1);
}

std::string tmp_path(const std::string& name) { return std::string(HILSIM_BINARY_DIR) + "/" + name; }

TEST(KernelRunner, CheckpointThenResumeSkipsMeasuredInstances) {
  const std::string path = tmp_path("test_kernel_calibration.samples.json");
  std::filesystem::remove(path);
  DriverOptions o;
  o.samples_path = path;
  o.budget_s = 0.6;
  o.tiny = true;
  o.classes = {"elementwise", "copy"};
  o.max_threads = 1;
  o.checkpoint_every = 1;
  o.policy = quick();
  const auto a = calibrate_kernels(o);
  ASSERT_TRUE(std::filesystem::exists(path));
  ASSERT_GT(a.measured, 0);
  EXPECT_EQ(load_samples(path).samples.size(), a.samples.samples.size());
  o.resume = true;
  const auto b = calibrate_kernels(o);
  // Nothing measured twice, everything from before kept.
  EXPECT_GE(b.samples.samples.size(), a.samples.samples.size());
  std::set<std::string> keys;
  for (const auto& s : b.samples.samples) EXPECT_TRUE(keys.insert(s.instance).second) << s.instance;
  // Each run also took a speed-reference reading at its start and its end (numbered on across the
  // resume), as `hilsim calibrate` does: the phone's samples carry the host's speed for the fit.
  EXPECT_EQ(b.samples.samples.size(), a.samples.samples.size() + static_cast<size_t>(b.measured) + 2);
  std::vector<Sample> readings;
  for (const auto& s : b.samples.samples)
    if (s.klass == kSpeedReferenceClass) readings.push_back(s);
  EXPECT_EQ(readings.size(), 4u);
  EXPECT_EQ(summarize_speed_reference(readings).workload, speed_reference_workload());
  EXPECT_FALSE(b.samples.device.hilsim_version.empty());
  EXPECT_FALSE(b.samples.device.git_sha.empty());
  for (const auto& s : b.samples.samples) EXPECT_GT(s.features.count("t_unix"), 0u) << s.instance;
  // A stop raised before the start checkpoints what there is and says so.
  std::atomic<bool> stop{true};
  o.stop = &stop;
  const auto c = calibrate_kernels(o);
  EXPECT_TRUE(c.interrupted);
  EXPECT_EQ(c.measured, 0);
  EXPECT_EQ(load_samples(path).samples.size(), b.samples.samples.size());
  std::filesystem::remove(path);
}

TEST(KernelRunner, BadInputIsAnErrorNamingIt) {
  DriverOptions o;
  o.samples_path = tmp_path("unused.samples.json");
  o.classes = {"dense_conv9x9"};
  try {
    calibrate_kernels(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dense_conv9x9"), std::string::npos);
  }
  // Resuming from samples of other kernels is refused, naming both digests; so is a file that
  // predates the digest (its kernels are unknown).
  const std::string path = tmp_path("test_other_version.samples.json");
  SampleSet s;
  s.device = detect_device();
  s.device.kernels = "0000000000000000";
  save_samples(s, path);
  o.classes = {"copy"};
  o.samples_path = path;
  o.resume = true;
  try {
    calibrate_kernels(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0000000000000000"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(build_kernels_digest()), std::string::npos) << e.what();
  }
  s.device.kernels.clear();
  save_samples(s, path);
  try {
    calibrate_kernels(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown kernels"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// Samples generated from a known linear model come back as that model (fit error ~0), and the
// held-out error the adaptive rounds rank cells by is ~0 too.
TEST(KernelRunner, FitRecoversAKnownModelFromGridFeatures) {
  SampleSet set;
  set.device.cores = 2;
  for (const auto& p : design("dense_conv1x1", 1, 40, 7)) {
    Sample s;
    s.klass = p.klass;
    s.instance = p.key();
    s.features = model::features_of(instance_of(p));
    s.features["threads"] = 1;
    s.ms_median = s.ms_p10 = s.ms_p90 =
        1.5e-8 * s.features["macs"] + 2e-7 * s.features["in_bytes"] + 1e-5 * s.features["tiles"] + 0.003;
    set.samples.push_back(s);
  }
  const model::Profile prof = fit_profile(set);
  const auto& m = prof.kernels.at("dense_conv1x1/t1");
  EXPECT_LT(m.fit_rmspe, 0.5);
  // A refit from samples of other kernels writes their digest into the profile, which is then flagged
  // against this build the way any profile of other kernels is.
  set.device = detect_device();
  set.device.kernels = "0000000000000000";
  const model::Profile other = fit_profile(set);
  EXPECT_EQ(other.device.kernels, "0000000000000000");
  const auto mm = model::device_mismatches(other.device, detect_device());
  ASSERT_EQ(mm.size(), 1u);
  EXPECT_EQ(mm[0].kind, model::DeviceMismatch::Kind::kKernels);
  EXPECT_NE(mm[0].text.find(build_kernels_digest()), std::string::npos) << mm[0].text;
  EXPECT_NEAR(m.params[0], 1.5e-8, 1.5e-9);
  int worst = -1;
  EXPECT_LT(held_out_rmspe(set.samples, model::feature_names("dense_conv1x1"), &worst), 0.5);
  EXPECT_GE(worst, 0);
}

// A tiny end-to-end: measure, fit, then predict fresh instances of the same class.
TEST(KernelRunner, EvaluateOnATinyBudgetGivesFiniteErrors) {
  SampleSet set;
  set.device.cores = 1;
  for (const auto& p : design("elementwise", 1, 10, 11)) {
    KernelPoint q = p;
    q.h = q.w = std::min<int64_t>(q.h, 24);
    set.samples.push_back(run_point(q, {}, quick()));
  }
  const model::Profile prof = fit_profile(set);
  const auto& m = prof.kernels.at("elementwise/t1");
  for (const auto& p : design("elementwise", 1, 3, 999)) {
    KernelPoint q = p;
    q.h = q.w = std::min<int64_t>(q.h, 24);
    const Sample s = run_point(q, {}, quick());
    const double err = (model::evaluate_model(m, s.features) - s.ms_median) / s.ms_median;
    EXPECT_TRUE(std::isfinite(err)) << q.key();
  }
}

}  // namespace
}  // namespace hilsim::calibration
