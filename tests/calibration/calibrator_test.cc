#include "hilsim/calibration/calibrator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "hilsim/calibration/fit.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/units.h"
#include "hilsim/util/error.h"
#include "calibration/calibration_testing.h"

namespace hilsim::calibration {
namespace {

TEST(Calibrator, DesignIsDeterministicAndCoversItsRanges) {
  for (const auto& klass : calibration_classes()) {
    auto a = design(klass, 1, 24, 1), b = design(klass, 1, 24, 1), c = design(klass, 1, 24, 2);
    ASSERT_EQ(a.size(), 24u);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].key(), b[i].key()) << klass;
    int differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += a[i].key() != c[i].key();
    EXPECT_GT(differ, 12) << klass;  // another seed, other points
    for (const auto& p : a) {
      EXPECT_GE(p.c, 3);
      EXPECT_LE(p.c, 9216);  // gemm's far-beyond-cache heads; convs stay within 1024
      if (p.op == "conv") {
        EXPECT_LE(p.c, 1024);
      }
      if (p.groups > 1 && p.groups != p.c) {
        EXPECT_EQ(p.c % p.groups, 0) << p.key();
      }
      EXPECT_GE(p.h, 1);
      // A gemm's h is its rows (tokens); image stems (3 channels) run on images up to 320 a side.
      EXPECT_LE(p.h, p.op == "gemm" ? 3136 : p.c == 3 && p.op == "conv" ? 320 : 160);
      EXPECT_GE(p.ratio, 0.0);
      EXPECT_LE(p.ratio, 0.95);
    }
  }
  // The conv designs span small and large layers.
  auto d = design("dense_conv3x3", 1, 24, 1);
  int64_t cmin = 1 << 20, cmax = 0;
  for (const auto& p : d) cmin = std::min(cmin, p.c), cmax = std::max(cmax, p.c);
  EXPECT_LT(cmin, 32);
  EXPECT_GT(cmax, 256);
}

TEST(Calibrator, HeldOutRunsAreNoneOfTheCalibrationsRuns) {
  std::set<std::string> calibrated, families;
  for (const ContextRun& r : context_runs(2)) calibrated.insert(r.model);
  const auto held = held_out_context_runs(2);
  ASSERT_FALSE(held.empty());
  int per_thread[3] = {0, 0, 0};
  for (const ContextRun& r : held) {
    EXPECT_FALSE(calibrated.count(r.model)) << r.model << " is also a calibration run";
    families.insert(r.model.substr(0, r.model.find('@')));
    ASSERT_GE(r.threads, 1);
    ASSERT_LE(r.threads, 2);
    ++per_thread[r.threads];
  }
  EXPECT_EQ(per_thread[1], per_thread[2]);
  std::set<std::string> all_families;
  for (const ContextRun& r : context_runs(1)) all_families.insert(r.model.substr(0, r.model.find('@')));
  EXPECT_EQ(families, all_families);
}

TEST(Calibrator, InContextRunsHoldTheLayerKindsRealNetworksHave) {
  // Whole-model predictions are fitted on these runs: each layer kind real networks have must be timed
  // in context somewhere (an Add beyond L2 was not, and real 224x224 networks' Adds ran 28% over).
  std::set<std::string> models;
  for (const ContextRun& r : context_runs(1)) models.insert(r.model);
  std::map<std::string, int> kinds;
  for (const std::string& m : models) {
    graph::Graph g = graph::load_model(m);
    graph::passes::canonicalize(g);
    for (graph::OpId id : g.topological_order())
      ++kinds[model::op_group(g, id, model::op_instance(g, id, {}, 1, false).k)];
  }
  for (const char* kind : {"grouped conv", "1x1 on 1x1 map", "far gemm", "global pool", "far elementwise"})
    EXPECT_GE(kinds[kind], 4) << kind;
}

TEST(Calibrator, InContextEvaluationPairsEachLayerWithItsClassModel) {
  const ContextRun run{"zoo:resnet18_like@32x0.25", "", 1};
  SampleSet set;
  set.samples = measure_context(run, {}, 3);
  model::Profile p = fit_profile(set);
  ASSERT_FALSE(p.kernels.empty());
  // A model that predicts nothing is 100% too low on every layer of its class, whatever the timing.
  const std::string zeroed = p.kernels.begin()->first;
  for (double& x : p.kernels[zeroed].params) x = 0;
  const auto errs = evaluate_profile_in_context(p, {run}, nullptr);
  int in_profile = 0;
  for (const Sample& s : set.samples) in_profile += p.kernels.count(model::profile_key(s.klass, 1)) > 0;
  int n = 0;
  bool saw_zeroed = false;
  for (const ClassError& e : errs) {
    EXPECT_TRUE(p.kernels.count(e.klass)) << e.klass;
    EXPECT_TRUE(std::isfinite(e.rmspe)) << e.klass;
    n += e.n;
    if (e.klass == zeroed) {
      saw_zeroed = true;
      EXPECT_NEAR(e.median_pct, -100.0, 1e-9);
      EXPECT_NEAR(e.rmspe, 100.0, 1e-9);
      EXPECT_EQ(e.within10, 0.0);
    }
  }
  EXPECT_TRUE(saw_zeroed);
  EXPECT_EQ(n, in_profile);  // the same model, so the same layers
}

TEST(Calibrator, ProfileKeysSplitBackIntoClassAndThreads) {
  std::string klass;
  int t = 0;
  ASSERT_TRUE(model::split_profile_key(model::profile_key("sparse_fb8", 2), &klass, &t));
  EXPECT_EQ(klass, "sparse_fb8");
  EXPECT_EQ(t, 2);
  for (const char* bad : {"dense_conv3x3", "dense_conv3x3/t0", "dense_conv3x3/t", "gemm/t99999"})
    EXPECT_FALSE(model::split_profile_key(bad, &klass, &t)) << bad;
}

TEST(Calibrator, UnknownClassIsAnError) { EXPECT_THROW(design("dense_conv4x4", 1, 3, 1), Error); }

TEST(Calibrator, MeasuresARealKernelWithOrderedQuantiles) {
  for (const auto& klass : {"dense_conv3x3", "sparse_fb8", "pool"}) {
    KernelPoint p = design(klass, 1, 1, 3)[0];
    const int64_t group_width = p.c / p.groups;
    p.c = std::min<int64_t>(p.c, 32), p.f = std::min<int64_t>(p.f, 32), p.h = p.w = std::min<int64_t>(p.h, 16);
    if (p.groups > 1) p.c = p.f = std::max<int64_t>(2 * group_width, p.c / group_width * group_width), p.groups = p.c / group_width;
    Sample s = measure_point(p, MeasureOptions{0.001, 3, 10});
    EXPECT_EQ(s.klass, klass);
    EXPECT_GT(s.ms_median, 0);
    EXPECT_LE(s.ms_p10, s.ms_median);
    EXPECT_LE(s.ms_median, s.ms_p90);
    EXPECT_GT(s.features.at("call"), 0);
  }
}

// Each copy's input is written by its own producer right before the consumer reads it (the cache state
// of a layer inside a model), and the sample times the consumers only.
TEST(Calibrator, GridGraphsRunEachProducerRightBeforeItsConsumer) {
  for (const auto& klass : {"dense_conv1x1", "gemm", "elementwise", "concat"}) {
    KernelPoint p = design(klass, 1, 1, 5)[0];
    p.c = std::min<int64_t>(p.c, 16), p.f = std::min<int64_t>(p.f, 16), p.h = p.w = std::min<int64_t>(p.h, 8);
    if (p.op == "conv") p.h = p.w = 16;  // a smaller plane's 1x1 conv runs as a GEMM over its pixels
    if (p.op == "conv") p.groups = 1;  // the channels just cut need not divide into its groups
    const int copies = 3;
    runtime::Executor ex(layer_graph(p, 17, copies), runtime::ExecOptions{});
    const graph::Graph& cg = ex.compiled_graph();
    // Producers: one per input (an add's two, a concat's `inputs`), then the consumer.
    const size_t per_copy = p.op == "add" ? 3 : p.op == "concat" ? static_cast<size_t>(p.inputs) + 1 : 2;
    ASSERT_EQ(ex.ops().size(), per_copy * copies) << klass;
    for (size_t j = 0; j < ex.ops().size(); ++j) {
      const std::string& type = cg.op(*cg.find_op(ex.ops()[j].name)).type;
      EXPECT_EQ(type == "Relu", j % per_copy != per_copy - 1) << klass << " op " << j << " " << type;
    }
    EXPECT_EQ(measure_point(p, MeasureOptions{0.001, 3, 10}).klass, klass);
  }
}

// A dense block's concat of many inputs and a standalone batch norm run in context like any grid
// point; their samples carry the concat's input count and the batch norm's class.
TEST(Calibrator, ManyInputConcatsAndStandaloneBatchNormsAreMeasured) {
  KernelPoint cat;
  cat.klass = "concat", cat.op = "concat", cat.c = 16, cat.f = 8, cat.h = cat.w = 7, cat.inputs = 24, cat.k = 0;
  Sample s = measure_point(cat, MeasureOptions{0.001, 3, 10});
  EXPECT_EQ(s.klass, "concat");
  EXPECT_EQ(s.features.at("inputs"), 24.0);
  EXPECT_EQ(s.features.at("bytes"), 2.0 * 4 * (16 + 23 * 8) * 49);
  EXPECT_GT(s.ms_median, 0);
  // Along the last axis (a detector head): the executor's graph, the same bytes, a run per input per pixel.
  cat.inputs = 3, cat.concat_axis = 2;
  s = measure_point(cat, MeasureOptions{0.001, 3, 10});
  EXPECT_EQ(s.features.at("extra_runs"), 3.0 * 48);
  EXPECT_EQ(s.features.at("bytes"), 2.0 * 4 * (16 + 2 * 8) * 49);
  KernelPoint bn;
  bn.klass = "elementwise", bn.op = "affine", bn.c = 24, bn.h = bn.w = 10;
  s = measure_point(bn, MeasureOptions{0.001, 3, 10});
  EXPECT_EQ(s.klass, "elementwise");
  EXPECT_EQ(s.features.at("bytes"), 2.0 * 4 * 24 * 100);  // one tensor in, one out
  EXPECT_GT(s.ms_median, 0);
}

TEST(Calibrator, FitRecoversAKnownLinearModel) {
  SampleSet set;
  set.device.cores = 2;
  for (int i = 0; i < 30; ++i) {
    Sample s;
    s.klass = "dense_conv3x3";
    s.instance = "synthetic" + std::to_string(i);
    const double macs = 1e5 * (i + 1), in = 4e3 * ((i * 7) % 13 + 1);
    s.features = {{"macs", macs}, {"in_bytes", in}, {"out_bytes", 0}, {"weight_bytes", 0}, {"tiles", 0},
                  {"act_bytes", 0}, {"call", 1}, {"threads", 1}};
    s.ms_median = 2e-8 * macs + 1e-6 * in + 0.005;
    set.samples.push_back(s);
  }
  model::Profile p = fit_profile(set);
  const auto& m = p.kernels.at("dense_conv3x3/t1");
  EXPECT_LT(m.fit_rmspe, 0.5);
  EXPECT_NEAR(m.params[0], 2e-8, 2e-9);
  EXPECT_EQ(p.provenance, "measured");
  EXPECT_EQ(p.energy.source, "estimate");
  EXPECT_FALSE(p.energy.basis.empty());
  // No hand-offs were measured: the transfer figures are a placeholder and say so.
  EXPECT_EQ(p.transfer.source, "assumed");
  EXPECT_FALSE(p.transfer.basis.empty());
}

TEST(Calibrator, ElementwiseBeyondTheCachesIsPricedAtTheStreamRate) {
  // Adds timed only on cache-resident tensors (0.1-1.5 MiB) at 1e-7 ms a byte (10 GB/s), and a stream
  // measurement at 2.5e-7 ms a byte (4 GB/s, DRAM): a 40 MiB Add is priced at the stream's rate.
  SampleSet set;
  set.device.cores = 2;
  auto add = [&](double bytes, int i) {
    Sample s;
    s.klass = "elementwise";
    s.instance = "synthetic" + std::to_string(i);
    model::KernelInstance k = model::memory_instance("elementwise", static_cast<int64_t>(bytes * 2 / 3),
                                                     static_cast<int64_t>(bytes / 3), 1);
    s.features = model::features_of(k);
    s.features["threads"] = 1;
    s.ms_median = 1e-7 * bytes + 0.002;
    return s;
  };
  for (int i = 0; i < 20; ++i) set.samples.push_back(add(1e5 * (1 + i * 0.75), i));
  Sample stream;
  stream.klass = "stream";
  stream.instance = "stream/triad64MiB/t1";
  stream.features = {{"bytes", 201326592.0}, {"threads", 1}};
  stream.ms_median = 2.5e-7 * 201326592.0;
  set.samples.push_back(stream);
  const Sample far = add(40e6, 99);
  const double want = 2.5e-7 * 40e6 + 0.002;
  model::Profile p = fit_profile(set);
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("elementwise/t1"), far.features), want, 0.05 * want);
  // A near op keeps the fitted rate.
  const Sample near = add(1e6, 98);
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("elementwise/t1"), near.features), near.ms_median, 0.05 * near.ms_median);
  // Where far tensors were sampled, their fitted rate stands (here 1.5e-7 ms a byte, not the stream's).
  for (int i = 0; i < 8; ++i) {
    Sample s = add(4e6 * (i + 1), 200 + i);
    s.ms_median = 1.5e-7 * s.features.at("bytes") + 0.002;
    set.samples.push_back(s);
  }
  p = fit_profile(set);
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("elementwise/t1"), far.features), 1.5e-7 * 40e6 + 0.002, 0.05 * want);
}

TEST(Calibrator, FitFindsHowStronglyKernelsFollowTheReferenceSlowdown) {
  // Readings alternate between 5 and 9 ms; every kernel sample is slowed by (reading / 5)^0.5 over a
  // known model, as kernels on a contended host slow down less than the reference workload does.
  SampleSet set;
  set.device.cores = 2;
  for (int r = 0; r < 12; ++r) {
    const double ms = (r / 2) % 2 ? 9.0 : 5.0;  // pairs, so smoothing keeps both levels
    set.samples.push_back(speed_reference_sample({ms, ms, ms}, 1000 + 10 * r, r));
  }
  auto level_at = [](double t) { return (static_cast<int>((t - 1000) / 10) / 2) % 2 ? 9.0 : 5.0; };
  for (int i = 0; i < 120; ++i) {
    Sample s;
    s.klass = i % 2 ? "dense_conv3x3" : "depthwise_conv3x3";
    s.instance = "synthetic" + std::to_string(i);
    const double macs = 1e5 * (i + 1), in = 4e3 * ((i * 7) % 13 + 1);
    const double t = 1000 + 10 * (i % 12) + 0.5;  // just after a reading: its level holds
    s.features = {{"macs", macs}, {"in_bytes", in}, {"out_bytes", 0}, {"weight_bytes", 0}, {"tiles", 0},
                  {"act_bytes", 0}, {"call", 1}, {"threads", 1}, {"t_unix", t}};
    s.ms_median = (2e-8 * macs + 1e-6 * in + 0.005) * std::sqrt(level_at(t) / 5.0);
    set.samples.push_back(s);
  }
  const model::Profile p = fit_profile(set);
  const auto& m = p.kernels.at("dense_conv3x3/t1");
  EXPECT_NEAR(m.drift_exponent, 0.5, 0.1);
  EXPECT_NEAR(m.params[0], 2e-8, 0.1 * 2e-8);  // the fast phase's model
  EXPECT_NEAR(p.device.speed_reference.ms, 5.0, 0.5);
  // Without drift correction there is no exponent, and the model is not the fast phase's alone.
  const model::Profile raw = fit_profile(set, {false});
  EXPECT_EQ(raw.kernels.at("dense_conv3x3/t1").drift_exponent, -1);
}

TEST(Calibrator, CheckpointsAndResumesWithoutRemeasuring) {
  const std::string out = std::string(HILSIM_BINARY_DIR) + "/test_calibration_profile.json";
  CalibrateOptions o = elementwise_calibration(out, 0.5);
  CalibrateResult a = calibrate(o);
  ASSERT_TRUE(std::filesystem::exists(out + ".samples.json"));
  const size_t first = a.samples.samples.size();
  EXPECT_GT(first, 0u);
  o.resume = true;
  CalibrateResult b = calibrate(o);
  // Everything measured before is kept, nothing is measured twice.
  EXPECT_GE(b.samples.samples.size(), first);
  std::set<std::string> keys;
  for (const auto& s : b.samples.samples) EXPECT_TRUE(keys.insert(s.instance).second) << s.instance;
  // Both runs took speed-reference readings (numbered on across the resume); every timed kernel sample
  // carries its time stamp, and the readings are the profile's speed reference, not a kernel class.
  int readings = 0;
  for (const auto& s : b.samples.samples) {
    readings += s.klass == kSpeedReferenceClass;
    if (s.klass != "elementwise") continue;
    EXPECT_GT(s.features.count("t_unix"), 0u) << s.instance;
  }
  EXPECT_GE(readings, 4);
  EXPECT_EQ(b.profile.device.speed_reference.workload, speed_reference_workload());
  EXPECT_FALSE(b.profile.device.hilsim_version.empty());  // provenance: the build that measured
  EXPECT_FALSE(b.profile.device.git_sha.empty());
  EXPECT_GT(b.profile.device.speed_reference.ms, 0);
  for (const auto& [key, m] : b.profile.kernels) EXPECT_EQ(key.find(kSpeedReferenceClass), std::string::npos) << key;
  std::filesystem::remove(out + ".samples.json");
}

TEST(Calibrator, CreatesTheOutputDirectoryAndRefusesOneItCannotMakeBeforeMeasuring) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(HILSIM_BINARY_DIR) / "test_calibration_outdir";
  fs::remove_all(root);
  CalibrateOptions o = elementwise_calibration((root / "a" / "b" / "p.json").string(), 0.2);
  calibrate(o);
  EXPECT_TRUE(fs::exists(o.out + ".samples.json"));
  // A directory below a regular file cannot exist: the error names --out.
  std::ofstream(root / "file") << "x";
  o.out = (root / "file" / "p.json").string();
  try {
    calibrate(o);
    ADD_FAILURE() << "no error for " << o.out;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(o.out), std::string::npos) << e.what();
  }
  fs::remove_all(root);
}

TEST(Calibrator, GpuContextRunsTimeTheDevicesOpsWithItsTerms) {
  const std::string why = kernels::opencl::ClContext::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no OpenCL device: " << why;
  const ContextRun run{"zoo:resnet18_like@32x0.25", "", 1};
  const std::vector<Sample> got = measure_context(run, {}, 2, runtime::parse_units("gpu").at(0));
  std::set<std::string> classes;
  int copies = 0;
  for (const Sample& s : got) {
    EXPECT_EQ(s.unit, "gpu") << s.instance;
    EXPECT_EQ(s.instance.rfind("ctx/gpu/", 0), 0u) << s.instance;  // the fit's in-context rows
    EXPECT_GT(s.ms_median, 0) << s.instance;
    classes.insert(s.klass);
    if (s.klass == "transfer") {
      // The copies as the run makes them: the input up at the stem, the flattened features down to the
      // host's classifier; their bytes and count, marked apart from the blocking copies.
      ++copies;
      EXPECT_EQ(s.features.count("in_context"), 1u) << s.instance;
      EXPECT_GT(s.features.at("bytes"), 0) << s.instance;
      EXPECT_GE(s.features.at("call"), 1) << s.instance;
      continue;
    }
    EXPECT_EQ(s.features.count("launches"), 1u) << s.instance;
  }
  EXPECT_GE(copies, 2);
  EXPECT_TRUE(classes.count("dense_conv3x3"));
  EXPECT_TRUE(classes.count("dense_convkxk"));  // the stem runs on the device: its own CLASS/gpu samples
  EXPECT_FALSE(classes.count("gemm"));          // the classifier runs on the host: not a device sample
  EXPECT_FALSE(classes.count("dispatch"));
}

TEST(Calibrator, GpuUnitGetsItsOwnClassesUnitAndCopyFigures) {
  const std::string why = kernels::opencl::ClContext::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no OpenCL device: " << why;
  const std::string out = std::string(HILSIM_BINARY_DIR) + "/test_calibration_gpu.json";
  std::filesystem::remove(out + ".gpu.samples.json");
  CalibrateOptions o = elementwise_calibration(out, 0.3);
  o.gpu = runtime::parse_units("gpu").at(0);
  o.gpu_budget_s = 4;
  o.tiny = true;
  const CalibrateResult r = calibrate(o);
  int gpu_samples = 0, copies = 0;
  for (const auto& s : r.samples.samples) {
    if (s.unit != "gpu") continue;
    EXPECT_GT(s.ms_median, 0) << s.instance;
    EXPECT_EQ(s.instance.rfind("gpu/", 0), 0u) << s.instance;
    gpu_samples += s.klass == "elementwise";
    copies += s.klass == "transfer";
  }
  EXPECT_GE(gpu_samples, 3);
  EXPECT_GE(copies, 2);
  for (const auto& s : r.samples.samples)
    if (s.unit == "gpu" && s.klass == "elementwise") {
      EXPECT_EQ(s.features.count("launches"), 1u) << s.instance;
    }
  // Kept apart from the CPU's cells, fitted under CLASS/gpu, on a unit that names its device.
  ASSERT_TRUE(r.profile.kernels.count("elementwise/gpu"));
  EXPECT_EQ(r.profile.kernels.at("elementwise/gpu").unit, "gpu");
  const model::UnitSpec* u = r.profile.unit("gpu");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->kind, "gpu");
  EXPECT_NE(u->device.find(kernels::opencl::ClContext::get()->device().name), std::string::npos) << u->device;
  EXPECT_GT(u->host_transfer.gbps, 0);
  EXPECT_EQ(u->host_transfer.source, "measured");
  EXPECT_EQ(u->compute_units, std::max(1, kernels::opencl::ClContext::get()->device().compute_units));
  // The merged samples refit to the same keys (what `hilsim fit` does).
  const model::Profile again = fit_profile(load_samples(out + ".samples.json"));
  EXPECT_TRUE(again.kernels.count("elementwise/gpu"));
  EXPECT_NE(again.unit("gpu"), nullptr);
  model::parse_profile(model::dump_profile(r.profile), "round trip");
  std::filesystem::remove(out + ".samples.json");
  std::filesystem::remove(out + ".gpu.samples.json");
}

TEST(Calibrator, TheGpuUnitsCopiesAreTimedOnTheDeviceAndNeverPricedAtZero) {
  // Reshape-like copies run on the device (ocl_copy). Met in context only at the zoo's three Flattens,
  // the class was once fitted to no term and priced every copy at 0 ms; the grid times it now.
  const std::string why = kernels::opencl::ClContext::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no OpenCL device: " << why;
  const std::string out = std::string(HILSIM_BINARY_DIR) + "/test_calibration_gpu_copy.json";
  std::filesystem::remove(out + ".gpu.samples.json");
  CalibrateOptions o = elementwise_calibration(out, 0.2);
  o.classes = {"copy"};
  o.gpu = runtime::parse_units("gpu").at(0);
  o.gpu_budget_s = 3;
  o.tiny = true;
  const CalibrateResult r = calibrate(o);
  int device_copies = 0;
  for (const auto& s : r.samples.samples) device_copies += s.unit == "gpu" && s.klass == "copy";
  EXPECT_GE(device_copies, 3);
  ASSERT_TRUE(r.profile.kernels.count("copy/gpu"));
  const model::KernelModel& m = r.profile.kernels.at("copy/gpu");
  for (const int64_t bytes : {int64_t{256}, int64_t{64} << 10, int64_t{4} << 20}) {
    model::KernelInstance k = model::memory_instance("copy", bytes, bytes, 1);
    EXPECT_GT(model::evaluate_model(m, model::features_of(k, true)), 0.0) << bytes << " bytes";
  }
  std::filesystem::remove(out + ".samples.json");
  std::filesystem::remove(out + ".gpu.samples.json");
}

TEST(Calibrator, AThinClassIsFittedWithItsSiblingsSamples) {
  // Depthwise 3x3 timed in context (40 layers, 1e-8 ms a lane-MAC + 2 us); depthwise 5x5 only by five
  // isolated grid layers that ran 1.6x slower (cold inputs) and carry a stride term. Fitted alone, the 5x5
  // model follows its five; with its sibling's samples it prices the row kernel's lanes as in context.
  SampleSet set;
  set.device.cores = 2;
  auto dw = [](const std::string& klass, const std::string& instance, double lanes, double strided, double slow) {
    Sample s;
    s.klass = klass;
    s.instance = instance;
    s.features = {{"lane_macs", lanes}, {"strided_lanes", strided}, {"call", 1}, {"threads", 1}};
    s.ms_median = slow * (1e-8 * lanes + 2e-3);
    return s;
  };
  for (int i = 0; i < 40; ++i)
    set.samples.push_back(dw("depthwise_conv3x3", "ctx/m/dense/t1/dw" + std::to_string(i), 2e5 * (i + 1), 0, 1.0));
  for (int i = 0; i < 5; ++i)
    set.samples.push_back(dw("depthwise_conv5x5", "grid" + std::to_string(i), 5e5 * (i + 1), i == 0 ? 5e5 : 0, 1.6));
  const std::map<std::string, double> layer = {{"lane_macs", 3e6}, {"strided_lanes", 0}};
  const double want = 1e-8 * 3e6 + 2e-3;
  FitOptions alone;
  alone.policy.thin_class_samples = 0;
  EXPECT_GT(model::evaluate_model(fit_profile(set, alone).kernels.at("depthwise_conv5x5/t1"), layer), 1.4 * want);
  const model::Profile p = fit_profile(set);
  const auto& m = p.kernels.at("depthwise_conv5x5/t1");
  EXPECT_GE(m.samples, 40);  // the five slow ones may fall outside the lower envelope
  EXPECT_NEAR(model::evaluate_model(m, layer), want, 0.1 * want);
  // The sibling keeps its own samples only.
  EXPECT_EQ(p.kernels.at("depthwise_conv3x3/t1").samples, 40);
}

// Depthwise 7x7 with two grid samples a thread count (what a loaded host's 120 s measured): too few to
// fit alone, fitted with its sibling's; without a sibling such a class stays unfitted.
TEST(Calibrator, AClassOfTwoSamplesIsFittedWithItsSiblingsOnly) {
  SampleSet set;
  set.device.cores = 2;
  auto dw = [](const std::string& klass, const std::string& instance, double lanes) {
    Sample s;
    s.klass = klass;
    s.instance = instance;
    s.features = {{"lane_macs", lanes}, {"call", 1}, {"threads", 1}};
    s.ms_median = 1e-8 * lanes + 2e-3;
    return s;
  };
  for (int i = 0; i < 40; ++i)
    set.samples.push_back(dw("depthwise_conv3x3", "ctx/m/dense/t1/dw" + std::to_string(i), 2e5 * (i + 1)));
  for (int i = 0; i < 2; ++i) {
    set.samples.push_back(dw("depthwise_conv7x7", "grid" + std::to_string(i), 1e6 * (i + 1)));
    set.samples.push_back(dw("dense_convkxk", "grid" + std::to_string(i), 1e6 * (i + 1)));
  }
  const model::Profile p = fit_profile(set);
  ASSERT_TRUE(p.kernels.count("depthwise_conv7x7/t1"));
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("depthwise_conv7x7/t1"), {{"lane_macs", 3e6}}), 1e-8 * 3e6 + 2e-3,
              0.1 * (1e-8 * 3e6 + 2e-3));
  EXPECT_FALSE(p.kernels.count("dense_convkxk/t1"));
}

TEST(Calibrator, AClassThatCouldNotFitItsActivationTakesTheOthersRate) {
  // Dense 3x3 layers with a SiLU on a third of them pay 1e-7 ms per output byte for it; depthwise 3x3
  // has one SiLU layer, too few to fit the term: it takes dense 3x3's rate rather than nothing.
  SampleSet set;
  set.device.cores = 2;
  auto conv = [](const std::string& klass, int i, double act) {
    Sample s;
    s.klass = klass;
    s.instance = "ctx/m/dense/t1/" + klass + std::to_string(i);
    const double lanes = 1e5 * (i + 1) * (1 + i % 3), out = 1e4 * (i + 1);
    s.features = {{"macs", 0.0}, {"lane_macs", lanes}, {"act_bytes", act * out}, {"call", 1}, {"threads", 1}};
    s.ms_median = 1e-8 * lanes + 1e-7 * act * out + 2e-3;
    return s;
  };
  for (int i = 0; i < 30; ++i) set.samples.push_back(conv("dense_conv3x3", i, i % 3 == 0 ? 1.0 : 0.0));
  for (int i = 0; i < 30; ++i) set.samples.push_back(conv("depthwise_conv3x3", i, i == 0 ? 1.0 : 0.0));
  const model::Profile p = fit_profile(set);
  const std::map<std::string, double> silu = {{"lane_macs", 1e6}, {"act_bytes", 1e6}};
  const double want = 1e-8 * 1e6 + 1e-7 * 1e6 + 2e-3;
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("dense_conv3x3/t1"), silu), want, 0.05 * want);
  EXPECT_NEAR(model::evaluate_model(p.kernels.at("depthwise_conv3x3/t1"), silu), want, 0.05 * want);
  FitOptions off;
  off.policy.min_feature_samples = 40;  // no class fits the term: nothing to borrow, it stays at zero
  EXPECT_LT(model::evaluate_model(fit_profile(set, off).kernels.at("depthwise_conv3x3/t1"), silu), 0.2 * want);
}

TEST(Calibrator, AClassWhoseActivationRateStraysFarFromTheOthersTakesTheirs) {
  // Two dense classes pay 1e-7 ms per SiLU output byte; a sparse class's few SiLU samples say 1e-6 (a
  // burst, or another cost riding on them). The epilogue is one routine whichever kernel ran: beyond
  // policy.act_rate_spread of the median the class takes the median.
  SampleSet set;
  set.device.cores = 2;
  auto conv = [](const std::string& klass, int i, double act, double rate) {
    Sample s;
    s.klass = klass;
    s.instance = "ctx/m/dense/t1/" + klass + std::to_string(i);
    const double lanes = 1e5 * (i + 1) * (1 + i % 3), out = 1e4 * (i + 1);
    s.features = {{"macs", 0.0}, {"lane_macs", lanes}, {"act_bytes", act * out}, {"call", 1}, {"threads", 1}};
    s.ms_median = 1e-8 * lanes + rate * act * out + 2e-3;
    return s;
  };
  for (const char* k : {"dense_conv3x3", "dense_conv1x1"})
    for (int i = 0; i < 30; ++i) set.samples.push_back(conv(k, i, i % 3 == 0 ? 1.0 : 0.0, 1e-7));
  for (int i = 0; i < 30; ++i) set.samples.push_back(conv("sparse_fb8", i, i % 5 == 0 ? 1.0 : 0.0, 1e-6));
  auto act_rate = [](const model::KernelModel& m) {
    return m.params[static_cast<size_t>(std::find(m.features.begin(), m.features.end(), "act_bytes") - m.features.begin())];
  };
  const model::Profile p = fit_profile(set);
  EXPECT_NEAR(act_rate(p.kernels.at("dense_conv3x3/t1")), 1e-7, 1e-8);
  EXPECT_NEAR(act_rate(p.kernels.at("sparse_fb8/t1")), 1e-7, 1e-8);
  FitOptions off;
  off.policy.act_rate_spread = 0;  // each class keeps its own
  EXPECT_NEAR(act_rate(fit_profile(set, off).kernels.at("sparse_fb8/t1")), 1e-6, 1e-7);
}

}  // namespace
}  // namespace hilsim::calibration
