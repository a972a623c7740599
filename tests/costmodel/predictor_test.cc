#include "hilsim/costmodel/predictor.h"

#include <gtest/gtest.h>

#include <set>

#include <atomic>
#include <cmath>
#include <thread>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"

namespace hilsim::costmodel {
namespace {

model::Profile test_profile() {
  model::Profile p = model::load_profile(std::string(HILSIM_SOURCE_DIR) + "/device_profiles/samsung_galaxy_s20.json");
  // A fitted model for dense 3x3 on the big cluster: 1 ns per MAC + 10 us per call.
  model::KernelModel m;
  m.features = {"macs", "in_bytes", "out_bytes", "weight_bytes", "tiles", "call"};
  m.params = {1e-6, 0, 0, 0, 0, 0.01};
  m.samples = 10;
  m.valid_range["macs"] = {1e3, 1e12};
  p.kernels["dense_conv3x3/t4"] = m;
  return p;
}

// A calibrated-looking gpu unit on the S20 profile: 3x3 convs at 0.1 ns per MAC + 50 us per launch
// (not the CPU's 1 ns), host copies at 20 us + 2 GB/s.
model::Profile gpu_profile() {
  model::Profile p = test_profile();
  model::KernelModel m;
  m.unit = "gpu";
  m.features = {"macs", "call"};
  m.params = {1e-7, 0.05};
  m.samples = 10;
  m.valid_range["macs"] = {1e3, 1e12};
  p.kernels[model::gpu_profile_key("dense_conv3x3")] = m;
  for (auto& u : p.units)
    if (u.kind == "gpu") u.host_transfer = {20, 2, 0, "measured", ""};
  return p;
}

graph::Graph small_model() {
  graph::ZooOptions o;
  o.resolution = 64;
  o.width = 0.25;
  return graph::make_zoo_model("resnet18_like", o);
}

// Every op of `p` on `unit`: dense_conv3x3 by its fitted model, taking want_ms(op), every other class by
// the roofline (the test profiles fit that class alone). Returns how many ops the fitted model timed.
template <class WantMs>
int expect_fitted_conv3x3_else_roofline(const Prediction& p, const std::string& unit, WantMs want_ms) {
  int fitted = 0;
  for (const auto& o : p.ops) {
    SCOPED_TRACE(o.name);
    EXPECT_GT(o.ms, 0);
    EXPECT_EQ(o.unit, unit);
    if (o.klass == "dense_conv3x3") {
      EXPECT_EQ(o.model, "fitted");
      EXPECT_NEAR(o.ms, want_ms(o), 1e-9);
      ++fitted;
    } else {
      EXPECT_EQ(o.model, "roofline");
    }
  }
  return fitted;
}

TEST(Predictor, FittedModelAndRooflineFallback) {
  const graph::Graph g = small_model();
  Predictor pred(g, test_profile(), {0, "cpu_big"});
  Prediction p = pred.predict();
  ASSERT_FALSE(p.ops.empty());
  // The MAC term is the busiest of the 4 threads' (model::feature_vector): layer 4's 3x3 convs split
  // into fewer work items than that.
  bool uneven = false;
  EXPECT_GT(expect_fitted_conv3x3_else_roofline(p, "cpu_big",
                                                [&](const auto& o) {
                                                  const auto id = g.find_op(o.name);
                                                  if (!id) ADD_FAILURE() << "no op " << o.name;
                                                  const model::KernelInstance k = model::conv_instance(
                                                      "dense_conv3x3", runtime::conv_shape_of(g, g.op(*id)), 4,
                                                      o.executed_macs, o.weight_bytes);
                                                  const double macs = model::feature_vector(k)[model::kFMacs];
                                                  uneven |= macs > static_cast<double>(o.executed_macs);
                                                  return 1e-6 * macs + 0.01;
                                                }),
            0);
  EXPECT_TRUE(uneven);
  EXPECT_NEAR(p.ms, p.sum_ms, 1e-9);  // one unit: the makespan is the sum
  EXPECT_EQ(p.energy_source, "estimate");
  EXPECT_GT(p.energy_mj, p.static_mj);
  EXPECT_EQ(p.peak_memory_bytes, p.activation_peak_bytes + p.weight_bytes);
}

// One classifier of 1024 x 1000 (4 MB, beyond L2).
graph::Graph classifier_head() {
  graph::GraphBuilder b("head", 13);
  b.output(b.gemm(b.input("x", {1, 1024}), 1000));
  return b.finish();
}

// The Gemm of `g` as predicted on cpu_big, the profile's last level `llc` bytes (0: unknown) and its
// gemm/t4 fit `fit`.
OpPrediction predict_gemm(const graph::Graph& g, int64_t llc, model::KernelModel fit) {
  model::Profile p = test_profile();
  p.device.caches = {{1, "data", 32 << 10, false}, {3, "unified", llc, true}};
  fit.samples = 10;
  p.kernels["gemm/t4"] = fit;
  const Prediction r = Predictor(g, p, {0, "cpu_big"}).predict();
  for (const OpPrediction& o : r.ops)
    if (o.type == "Gemm") return o;
  ADD_FAILURE() << "no Gemm predicted";
  return OpPrediction{};
}

// The share of a one-row GEMM's weight stream it cannot hide under its MACs.
double one_row_exposed_share() {
  return static_cast<double>(model::kGemmStreamHideRows) / static_cast<double>(model::kGemmStreamHideRows + 1);
}

TEST(Predictor, FarWeightsOfAModelTheLastLevelCacheHoldsAreNotPricedAsDram) {
  // The classifier's far term (0.1 ms per MB) applies when the model's weights and activations outgrow
  // the last level's share (model::kLlcHoldsShare), not when they fit it.
  const graph::Graph g = classifier_head();
  model::KernelModel fit;
  fit.features = {"macs", "wstream_far", "call"};
  fit.params = {1e-6, 1e-7, 0.01};  // well above the unit's compute ceiling and its DRAM floor
  const int64_t weights = model::graph_weight_bytes(g), reuse = model::graph_reuse_bytes(g);
  EXPECT_EQ(weights, 4 * (1024 * 1000 + 1000));
  EXPECT_EQ(reuse, weights + 4 * (1024 + 1000));  // the input and the output at their peak
  const auto llc_for = [](int64_t bytes) { return static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / model::kLlcHoldsShare)); };
  const OpPrediction held = predict_gemm(g, llc_for(reuse), fit), dram = predict_gemm(g, llc_for(reuse) - 64, fit),
                     unknown = predict_gemm(g, 0, fit);
  // Weights and bias stream, the exposed share.
  EXPECT_NEAR(dram.ms - held.ms, 1e-7 * one_row_exposed_share() * static_cast<double>(weights), 1e-6);
  EXPECT_NEAR(unknown.ms, dram.ms, 1e-12);  // no cache known: the far rate
  EXPECT_EQ(held.dram_bytes, 0);
  EXPECT_GT(dram.dram_bytes, 4 * 1024 * 1000);
}

TEST(Predictor, FarWeightsOfAModelBeyondTheLastLevelStreamNoFasterThanTheUnitsDram) {
  // The same classifier with a gemm fit far faster than any DRAM: where the model outgrows the whole
  // last level its first sweep of the weights (the exposed share) takes at least those bytes at the
  // unit's measured bandwidth; where the last level holds the model the fit stands.
  const graph::Graph g = classifier_head();
  model::KernelModel fit;
  fit.features = {"macs", "call"};
  fit.params = {1e-12, 0.001};
  const double gbps = test_profile().unit("cpu_big")->mem_gbps;
  ASSERT_GT(gbps, 0);
  const double exposed_bytes = std::llround(one_row_exposed_share() * static_cast<double>(model::graph_weight_bytes(g)));
  const double floor_ms = 1e-6 * exposed_bytes / gbps;
  // Held by the last level: the fit (or the compute ceiling above it) and the per-op dispatch alone.
  const OpPrediction held = predict_gemm(g, int64_t{256} << 20, fit), dram = predict_gemm(g, int64_t{1} << 20, fit);
  EXPECT_LT(held.ms, floor_ms / 2);
  // Beyond it: the floor, plus that dispatch at most.
  EXPECT_GE(dram.ms, floor_ms);
  EXPECT_LE(dram.ms, floor_ms + held.ms);
}

TEST(Predictor, SparsityCutsComputeAndBytes) {
  Predictor pred(small_model(), test_profile(), {0, "cpu_big"});
  Prediction dense = pred.predict();
  Prediction sparse = pred.predict(runtime::parse_sparsity_spec("block:8x4@0.8"));
  EXPECT_LT(sparse.ms, dense.ms);
  EXPECT_LT(sparse.weight_bytes, dense.weight_bytes);
  int64_t dense_macs = 0, sparse_macs = 0;
  for (const auto& o : dense.ops) dense_macs += o.executed_macs;
  for (const auto& o : sparse.ops) sparse_macs += o.executed_macs;
  EXPECT_LT(static_cast<double>(sparse_macs), 0.5 * static_cast<double>(dense_macs));
}

TEST(Predictor, RepredictionCostsOnlyChangedLayers) {
  Predictor pred(small_model(), test_profile(), {0, "cpu_big"});
  pred.predict();
  const int64_t after_first = pred.evaluations();
  pred.predict();
  EXPECT_EQ(pred.evaluations(), after_first);  // all cached
  runtime::SparsitySpec one;
  one.layers[pred.prunable_ops()[3].first] = runtime::parse_layer_spec("block:8x4@0.5");
  pred.predict(one);
  EXPECT_EQ(pred.evaluations(), after_first + 1);
}

TEST(Predictor, UnitSplitAddsTransfers) {
  Predictor pred(small_model(), test_profile(), {0, "gpu"});
  runtime::SparsitySpec cfg;
  auto ops = pred.prunable_ops();
  runtime::LayerSparsity cpu;
  cpu.unit = "cpu_big";
  cfg.layers[ops[2].first] = cpu;
  Prediction p = pred.predict(cfg);
  EXPECT_GT(p.transfers, 0);
  EXPECT_GT(p.transfer_ms, 0);
  EXPECT_EQ(p.unit_busy_ms.count("cpu_big"), 1u);
}

TEST(Predictor, PlacementPutsEachOpOnACandidateUnitAndKeepsPinnedOnes) {
  Predictor pred(small_model(), test_profile(), {0, "gpu"});
  const auto ops = pred.prunable_ops();
  runtime::SparsitySpec cfg;
  runtime::LayerSparsity little;
  little.unit = "cpu_little";
  cfg.layers[ops[1].first] = little;
  const Prediction p = pred.predict_placed(cfg, {"gpu", "cpu_big"});
  std::set<std::string> used;
  for (const auto& o : p.ops) {
    SCOPED_TRACE(o.name);
    used.insert(o.unit);
    if (o.name == ops[1].first) {
      EXPECT_EQ(o.unit, "cpu_little");
      continue;
    }
    ASSERT_TRUE(o.unit == "gpu" || o.unit == "cpu_big") << o.unit;
    // Each op's figures are its prediction on the unit it was placed on.
    runtime::LayerSparsity on;
    on.unit = o.unit;
    EXPECT_DOUBLE_EQ(o.ms, pred.predict_op(o.name, on, false).ms);
  }
  EXPECT_TRUE(used.count("cpu_little"));
  // Some op or transfer is always running on the schedule's critical path.
  EXPECT_LE(p.ms, p.sum_ms + p.transfer_ms + 1e-9);
  // Placement and the plain prediction share one per-op cache and do not disturb each other.
  EXPECT_DOUBLE_EQ(pred.predict(cfg).ms, Predictor(small_model(), test_profile(), {0, "gpu"}).predict(cfg).ms);
  try {
    pred.predict_placed(cfg, {"gpu", "npu"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("npu"), std::string::npos) << e.what();
  }
}

TEST(Predictor, DefaultThreadsAreTheUnitsUnlessGiven) {
  const model::Profile prof = test_profile();
  const model::UnitSpec* big = prof.unit("cpu_big");
  ASSERT_NE(big, nullptr);
  ASSERT_GT(big->threads, 1);
  EXPECT_EQ(Predictor(small_model(), prof, {0, "cpu_big"}).default_threads(), big->threads);
  EXPECT_EQ(Predictor(small_model(), prof, {1, "cpu_big"}).default_threads(), 1);
}

TEST(Predictor, MeasuredProfileLackingAClassNamesIt) {
  model::Profile p = model::load_profile(std::string(HILSIM_SOURCE_DIR) + "/device_profiles/x86_avx512_2core.json");
  for (auto it = p.kernels.begin(); it != p.kernels.end();)
    it = it->first.rfind("pool/", 0) == 0 ? p.kernels.erase(it) : std::next(it);
  try {
    Predictor pred(small_model(), p, {1, "cpu0"});
    pred.predict();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'pool'"), std::string::npos) << e.what();
  }
  PredictorOptions o{1, "cpu0"};
  o.allow_extrapolation = true;
  Predictor pred(small_model(), p, o);
  EXPECT_GT(pred.predict().roofline_ops, 0);
}

// ConvNeXt's block: a 7x7 depthwise conv. A profile from before depthwise 7x7 had a class (a fit for
// dense_convkxk only) prices it by dense_convkxk on that class's features, as it was fitted, and says
// so; once the profile has the class, the class prices it.
TEST(Predictor, DepthwiseSevenBySevenFallsBackToTheClassThatPricedItBefore) {
  graph::GraphBuilder b("dw7");
  const std::string x = b.input("x", {1, 32, 14, 14});
  b.output(b.conv(x, 32, 7, 1, 32, true, 3, 1, "dw"));
  const graph::Graph g = b.finish();
  model::Profile p = test_profile();
  model::KernelModel kxk;
  kxk.features = {"macs", "lane_macs", "call"};
  kxk.params = {1e-6, 1e-7, 0.01};
  kxk.samples = 10;
  kxk.valid_range["macs"] = {1e3, 1e12};
  p.kernels["dense_convkxk/t4"] = kxk;
  const auto dw_op = [](const Prediction& r) {
    for (const auto& o : r.ops)
      if (o.name == "dw") return o;
    ADD_FAILURE() << "no op 'dw'";
    return OpPrediction{};
  };
  const kernels::ConvShape s = [] {
    kernels::ConvShape c;
    c.c = c.f = c.groups = 32, c.h = c.w = 14, c.kh = c.kw = 7, c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = 3;
    return c;
  }();
  const Prediction before = Predictor(g, p, {0, "cpu_big"}).predict();
  EXPECT_EQ(dw_op(before).klass, "dense_convkxk");
  EXPECT_EQ(dw_op(before).model, "older class");
  EXPECT_EQ(before.older_class_ops, 1);

  model::KernelModel own = kxk;
  own.params = {2e-6, 0, 0.02};
  p.kernels["depthwise_conv7x7/t4"] = own;
  const Prediction after = Predictor(g, p, {0, "cpu_big"}).predict();
  EXPECT_EQ(dw_op(after).klass, "depthwise_conv7x7");
  EXPECT_EQ(dw_op(after).model, "fitted");
  EXPECT_EQ(after.older_class_ops, 0);
  // Both add the same per-op dispatch; the older class is evaluated on its own features (the GEMM's
  // lanes), not the depthwise kernel's.
  // Both price the busiest of the 4 threads' work (model::feature_vector): the depthwise kernel's 32
  // channels are 2 items of 16 lanes.
  const int64_t wbytes = 4 * (s.weight_count() + 32);
  const model::KernelInstance dense = model::conv_instance("dense_convkxk", s, 4, s.macs(), wbytes);
  const model::KernelInstance dw = model::conv_instance("depthwise_conv7x7", s, 4, s.macs(), wbytes);
  ASSERT_NE(dense.lane_macs, dw.lane_macs);
  const double dispatch = dw_op(after).ms - (2e-6 * model::feature_vector(dw)[model::kFMacs] + 0.02);
  const model::FeatureVector f = model::feature_vector(dense);
  EXPECT_NEAR(dw_op(before).ms, 1e-6 * f[model::kFMacs] + 1e-7 * f[model::kFLaneMacs] + 0.01 + dispatch, 1e-9);
}

TEST(Predictor, BadConfigNamesTheOp) {
  Predictor pred(small_model(), test_profile(), {0, "cpu_big"});
  runtime::SparsitySpec cfg;
  cfg.layers["no_such_layer"] = runtime::parse_layer_spec("block:8x4@0.5");
  EXPECT_THROW(pred.predict(cfg), Error);
  runtime::SparsitySpec bad_unit;
  runtime::LayerSparsity l;
  l.unit = "npu";
  bad_unit.layers[pred.prunable_ops()[0].first] = l;
  EXPECT_THROW(pred.predict(bad_unit), Error);
  // The stem is 7x7: pattern pruning is not possible there.
  runtime::SparsitySpec pat;
  pat.layers[pred.prunable_ops()[0].first] = runtime::parse_layer_spec("pattern:2");
  try {
    pred.predict(pat);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("7x7"), std::string::npos) << e.what();
  }
}

TEST(Predictor, CacheNeverAnswersForANearbyRatio) {
  // Ratios 1e-7 apart: somewhere in the sweep a block boundary falls between two neighbours, so their
  // executed MACs differ; a cache keyed by a printed ratio would have merged them.
  Predictor sweep(small_model(), test_profile(), {0, "cpu_big"});
  const std::string op = sweep.prunable_ops().back().first;
  runtime::LayerSparsity a = runtime::parse_layer_spec("block:8x4@0.5");
  runtime::LayerSparsity b = a;
  bool found = false;
  for (int k = 0; k < 20000 && !found; ++k) {
    a.ratio = 0.5 + 1e-7 * k;
    b.ratio = a.ratio + 1e-7;
    found = sweep.predict_op(op, a).executed_macs != sweep.predict_op(op, b).executed_macs;
  }
  ASSERT_TRUE(found) << "no ratio step changed the footprint of " << op;
  // A fresh predictor asked only for b agrees with one that answered a first, through predict() too.
  Predictor fresh(small_model(), test_profile(), {0, "cpu_big"});
  Predictor reused(small_model(), test_profile(), {0, "cpu_big"});
  runtime::SparsitySpec sa, sb;
  sa.layers[op] = a;
  sb.layers[op] = b;
  reused.predict(sa);
  EXPECT_EQ(reused.predict(sb).ms, fresh.predict(sb).ms);
  EXPECT_EQ(reused.estimate(sb).ms, fresh.estimate(sb).ms);
  EXPECT_EQ(reused.predict_op(op, b).executed_macs, fresh.predict_op(op, b).executed_macs);
}

TEST(Predictor, EstimateMatchesPredictTotals) {
  Predictor pred(small_model(), test_profile(), {0, "cpu_big"});
  for (const char* spec : {"", "block:8x4@0.7", "pattern:2"}) {
    const runtime::SparsitySpec s = spec[0] ? runtime::parse_sparsity_spec(spec) : runtime::SparsitySpec{};
    const Prediction p = pred.predict(s);
    const Estimate e = pred.estimate(s);
    EXPECT_DOUBLE_EQ(e.ms, p.ms) << spec;
    EXPECT_EQ(e.bytes, p.bytes) << spec;
    EXPECT_EQ(e.weight_bytes, p.weight_bytes) << spec;
    EXPECT_EQ(e.peak_memory_bytes, p.peak_memory_bytes) << spec;
    EXPECT_NEAR(e.energy_mj, p.energy_mj, 1e-9 * std::max(1.0, p.energy_mj)) << spec;
  }
}

TEST(Predictor, ProfileFeatureThisBuildDoesNotKnowIsNamed) {
  model::Profile p = test_profile();
  p.kernels["dense_conv3x3/t4"].features[0] = "warp_occupancy";
  try {
    Predictor pred(small_model(), p, {0, "cpu_big"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dense_conv3x3/t4"), std::string::npos) << what;
    EXPECT_NE(what.find("warp_occupancy"), std::string::npos) << what;
  }
}

// Queries from many threads share one predictor (a Python search releases the GIL around predict):
// every answer must equal the serial one, also across the cache's reset at its cap.
TEST(Predictor, ConcurrentQueriesMatchTheSerialAnswers) {
  const graph::Graph g = small_model();
  const model::Profile prof = test_profile();
  Predictor serial(g, prof, {0, "cpu_big"});
  const auto ops = serial.prunable_ops();
  constexpr int kThreads = 8, kQueries = 10000;
  std::vector<runtime::SparsitySpec> cfgs(kQueries);
  for (int q = 0; q < kQueries; ++q) {
    // Ratios seldom repeat, so the per-op cache fills past its cap and is cleared while others read.
    runtime::LayerSparsity a = runtime::parse_layer_spec(q % 3 ? "block:8x4@0.5" : "block:4x4@0.5");
    a.ratio = 0.3 + 0.6 * static_cast<double>((q * 7919) % 9973) / 9973.0;
    cfgs[q].layers[ops[static_cast<size_t>(q) % ops.size()].first] = a;
    if (q % 5 == 0) cfgs[q].layers[ops[static_cast<size_t>(q * 7 + 1) % ops.size()].first] = runtime::parse_layer_spec("block:8x8@0.9");
  }
  std::vector<double> want(kQueries), want_est(kQueries);
  for (int q = 0; q < kQueries; ++q) {
    want[q] = serial.predict(cfgs[q]).ms;
    want_est[q] = serial.estimate(cfgs[q]).ms;
  }
  Predictor shared(g, prof, {0, "cpu_big"});
  std::atomic<int> wrong{0}, next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&] {
      for (int q; (q = next.fetch_add(1)) < kQueries;) {
        const bool est = q % 2 == 1;
        const double got = est ? shared.estimate(cfgs[q]).ms : shared.predict(cfgs[q]).ms;
        if (got != (est ? want_est[q] : want[q])) ++wrong;
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0) << "of " << kQueries << " concurrent queries differ from the serial answer";
}

TEST(Predictor, GpuUnitUsesItsOwnClassesNeverTheCpus) {
  Predictor pred(small_model(), gpu_profile(), {0, "gpu"});
  const Prediction p = pred.predict();
  // dense_conv3x3 by the CLASS/gpu model (0.1 ns per MAC), not dense_conv3x3/t4 (1 ns per MAC); every
  // other class has no gpu model and no CPU model either: the spec profile's roofline, no host fallback.
  EXPECT_GT(expect_fitted_conv3x3_else_roofline(
                p, "gpu", [](const auto& o) { return 1e-7 * static_cast<double>(o.macs) + 0.05; }),
            0);
}

TEST(Predictor, GpuModelsPriceWavesOverTheUnitsComputeUnitsAndLaunches) {
  // 3x3 convs on the gpu at 0.2 ms per wave of work-groups + 0.07 ms per launch.
  model::Profile one = gpu_profile();
  model::KernelModel& m = one.kernels[model::gpu_profile_key("dense_conv3x3")];
  m.features = {"waves", "launches"};
  m.params = {0.2, 0.07};
  m.valid_range.clear();
  model::Profile four = one;
  for (auto& u : four.units)
    if (u.kind == "gpu") u.compute_units = 4;
  const Prediction p1 = Predictor(small_model(), one, {0, "gpu"}).predict();
  const Prediction p4 = Predictor(small_model(), four, {0, "gpu"}).predict();
  int convs = 0;
  for (size_t i = 0; i < p1.ops.size(); ++i) {
    const OpPrediction& a = p1.ops[i];
    if (a.klass != "dense_conv3x3" || a.model != "fitted") continue;
    ++convs;
    // ms = 0.2 x waves + 0.07 on one compute unit, the waves a whole number; on four, ceil(waves / 4).
    const double waves = (a.ms - 0.07) / 0.2;
    ASSERT_NEAR(waves, std::round(waves), 1e-6) << a.name;
    EXPECT_GE(waves, 1.0) << a.name;
    EXPECT_NEAR(p4.ops[i].ms, 0.2 * std::ceil(std::round(waves) / 4) + 0.07, 1e-9) << a.name;
  }
  EXPECT_GT(convs, 2);
}

TEST(Predictor, GpuUnitPricesA5x5Or7x7DepthwiseWithThe3x3sModelNotTheHosts) {
  // One OpenCL depthwise kernel runs every kernel size: a gpu unit calibrated for 3x3 only prices a
  // 5x5 or 7x7 with that model, though the profile has a CPU model for it (which made it "host fallback").
  for (const int k : {5, 7}) {
    const std::string klass = "depthwise_conv" + std::to_string(k) + "x" + std::to_string(k);
    graph::GraphBuilder b("dw", 3);
    const std::string x = b.input("x", {1, 16, 20, 20});
    b.output(b.relu(b.conv(x, 16, k, 1, 16, true, std::nullopt, 1, "dw")));
    const graph::Graph g = b.finish();
    auto profile_at = [&](double ms_per_mac, double launch_ms) {
      model::Profile p = gpu_profile();
      model::KernelModel m;
      m.unit = "gpu";
      m.features = {"macs", "launches"};
      m.params = {ms_per_mac, launch_ms};
      m.samples = 10;
      p.kernels[model::gpu_profile_key("depthwise_conv3x3")] = m;
      model::KernelModel cpu;
      cpu.features = {"macs", "call"};
      cpu.params = {1e-5, 0.5};
      cpu.samples = 10;
      p.kernels[klass + "/t1"] = cpu;
      return p;
    };
    runtime::LayerSparsity on_gpu;
    on_gpu.unit = "gpu";
    const OpPrediction a = Predictor(g, profile_at(1e-7, 0.05), {0, "gpu"}).predict_op("dw", on_gpu, false);
    const OpPrediction c = Predictor(g, profile_at(2e-7, 0.10), {0, "gpu"}).predict_op("dw", on_gpu, false);
    ASSERT_EQ(a.klass, klass);
    EXPECT_EQ(a.model, "fitted") << klass;
    // Doubling the 3x3 gpu model's terms adds exactly that model's time (the copies stay the same). Its
    // MACs are the taps inside the 20x20 map (the OpenCL kernel skips the padding's): per dimension 20
    // outputs x k taps less the pad's triangle at each edge.
    const int64_t pad = k / 2, taps = 20 * k - pad * (pad + 1);
    EXPECT_NEAR(c.ms - a.ms, 1e-7 * static_cast<double>(16 * taps * taps) + 0.05, 1e-9) << klass;
  }
}

TEST(Predictor, GpuUnitWithoutAModelForAClassRunsItOnTheHostWithCopies) {
  model::Profile prof = gpu_profile();
  // A CPU model for the stem's class and none on the gpu: the executor runs that op as host_*.
  model::KernelModel m;
  m.features = {"macs", "call"};
  m.params = {1e-6, 0.01};
  m.samples = 10;
  prof.kernels["dense_convkxk/t1"] = m;
  Predictor pred(small_model(), prof, {0, "gpu"});
  const std::string stem = pred.prunable_ops()[0].first;
  runtime::LayerSparsity on_gpu;
  on_gpu.unit = "gpu";
  const OpPrediction o = pred.predict_op(stem, on_gpu, false);
  ASSERT_EQ(o.klass, "dense_convkxk");
  EXPECT_EQ(o.model, "host fallback");
  // One-thread CPU time, plus the copies of its input and output at the unit's figures, plus the graph
  // input's copy (the stem reads the model input).
  const double cpu_ms = 1e-6 * static_cast<double>(o.executed_macs) + 0.01;
  EXPECT_GT(o.ms, cpu_ms + 3 * 0.020);
}

TEST(Predictor, CrossingsIntoTheGpuPayItsHostCopiesNotTheCoreHandOff) {
  model::Profile a = gpu_profile(), b = gpu_profile();
  for (auto& u : b.units)
    if (u.kind == "gpu") u.host_transfer.latency_us += 1000;  // +1 ms per copy
  runtime::SparsitySpec cfg;
  runtime::LayerSparsity cpu;
  cpu.unit = "cpu_big";
  Predictor pa(small_model(), a, {0, "gpu"}), pb(small_model(), b, {0, "gpu"});
  cfg.layers[pa.prunable_ops()[2].first] = cpu;
  const Prediction ra = pa.predict(cfg), rb = pb.predict(cfg);
  ASSERT_GT(ra.transfers, 0);
  EXPECT_EQ(ra.transfers, rb.transfers);
  // Each crossing is one copy to or from the device: 1 ms more each.
  EXPECT_NEAR(rb.transfer_ms - ra.transfer_ms, 1.0 * ra.transfers, 1e-6);
}

TEST(Predictor, EveryGpuCrossingPaysTheSyncTermButAGpuOnlyRunDoesNot) {
  model::Profile a = gpu_profile(), b = gpu_profile();
  for (auto& u : b.units)
    if (u.kind == "gpu") u.host_transfer.sync_us = 500;  // 0.5 ms per crossing
  runtime::SparsitySpec cfg;
  runtime::LayerSparsity cpu;
  cpu.unit = "cpu_big";
  Predictor pa(small_model(), a, {0, "gpu"}), pb(small_model(), b, {0, "gpu"});
  // All on the device: no crossing, so the sync term changes nothing.
  EXPECT_DOUBLE_EQ(pa.predict().ms, pb.predict().ms);
  cfg.layers[pa.prunable_ops()[2].first] = cpu;
  const Prediction ra = pa.predict(cfg), rb = pb.predict(cfg);
  ASSERT_GT(ra.transfers, 0);
  EXPECT_NEAR(rb.transfer_ms - ra.transfer_ms, 0.5 * ra.transfers, 1e-6);
  EXPECT_GT(rb.ms, ra.ms);
}

// One name per kernel: for every format, `run` and `predict` name the same kernel and the same class for
// every conv (predict for a profile of this machine, whose recorded extensions give the path run takes).
TEST(Predictor, RunAndPredictNameTheSameKernelAndClassForEveryConv) {
  model::Profile profile = model::load_profile(std::string(HILSIM_SOURCE_DIR) + "/device_profiles/x86_avx512_2core.json");
  switch (kernels::active_isa()) {
    case kernels::Isa::kAvx512: profile.device.isa = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl"}; break;
    case kernels::Isa::kAvx2: profile.device.isa = {"avx2", "fma"}; break;
    case kernels::Isa::kGeneric: profile.device.isa = {"neon"}; break;
  }
  PredictorOptions po;
  po.threads = 1;
  po.allow_extrapolation = true;  // names are the point here, not the classes this profile fitted
  graph::ZooOptions zo;
  zo.resolution = 32;
  zo.width = 0.25;
  for (const std::string model : {"mobilenetv2_like", "resnet18_like"}) {
    const graph::Graph g = graph::make_zoo_model(model, zo);
    Predictor pred(g, profile, po);
    for (const std::string spec : {"", "block:8x4@0.7", "block_col:16x2@0.6", "pattern:2", "pattern:3", "csr@0.9"}) {
      SCOPED_TRACE(model + " " + spec);
      runtime::RunConfigRequest req;
      req.sparsity = spec;
      runtime::Executor ex(g, runtime::make_exec_options(req));
      std::map<std::string, const runtime::CompiledOp*> run_ops;
      for (const auto& op : ex.ops()) run_ops[op.name] = &op;
      const Prediction p = pred.predict(spec.empty() ? runtime::SparsitySpec{} : runtime::parse_sparsity_spec(spec));
      int convs = 0, sparse = 0;
      for (const auto& o : p.ops) {
        if (o.type != "Conv") continue;
        SCOPED_TRACE(o.name);
        ASSERT_TRUE(run_ops.count(o.name));
        const runtime::CompiledOp& r = *run_ops[o.name];
        EXPECT_EQ(o.kernel, r.kernel);
        EXPECT_EQ(o.klass, model::run_op_class(r.type, r.kernel));
        EXPECT_EQ(o.format, r.format);
        ++convs;
        sparse += o.format != "dense";
      }
      EXPECT_GT(convs, 5);
      // Each format reaches some convs of each model (else the test would compare dense kernels only).
      if (!spec.empty()) EXPECT_GT(sparse, 0);
    }
  }
}

}  // namespace
}  // namespace hilsim::costmodel

namespace hilsim::costmodel {
namespace {

using Ints = std::vector<int64_t>;

// A conv, ops the OpenCL lowering takes (concat, per-channel add, pool, flatten) and ops it leaves on
// the unit's host thread (ShuffleNet's split and transpose, a Gemm, a softmax).
graph::Graph host_and_device_graph() {
  graph::GraphBuilder b("mixed", 5);
  const std::string c = b.conv(b.input("x", {1, 8, 8, 8}), 8, 3, 1, 1, true, std::nullopt, 1, "conv");
  const auto halves = b.split(c, {4, 4}, 1);
  const std::string t = b.op("Transpose", {halves[0]}, {{"perm", Ints{0, 1, 3, 2}}}, 1, "transpose")[0];
  const std::string cat = b.op("Concat", {t, halves[1]}, {{"axis", int64_t{1}}}, 1, "concat")[0];
  const std::string added = b.op("Add", {cat, b.random_constant("bias", {8, 1, 1}, 1.0f)}, {}, 1, "add")[0];
  const std::string pooled = b.op("MaxPool", {added}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}, 1, "pool")[0];
  const std::string flat = b.op("Flatten", {pooled}, {{"axis", int64_t{1}}}, 1, "flatten")[0];
  b.output(b.op("Softmax", {b.gemm(flat, 10)}, {{"axis", int64_t{1}}}, 1, "softmax")[0]);
  return b.finish();
}

// gpu_profile() with device models for the memory classes (0.1 ms a launch) and one-thread CPU models
// for the host's (copies at 0.02 ms + 1 ns per byte).
model::Profile calibrated_gpu_profile(double device_copy_ms) {
  model::Profile p = gpu_profile();
  auto linear = [](std::vector<std::string> f, std::vector<double> v, const std::string& unit) {
    model::KernelModel m;
    m.unit = unit;
    m.features = std::move(f);
    m.params = std::move(v);
    m.samples = 10;
    return m;
  };
  for (const char* k : {"concat", "elementwise", "pool"}) p.kernels[model::gpu_profile_key(k)] = linear({"launches"}, {0.1}, "gpu");
  p.kernels[model::gpu_profile_key("copy")] = linear({"launches"}, {device_copy_ms}, "gpu");
  p.kernels["copy/t1"] = linear({"bytes", "call"}, {1e-6, 0.02}, "");
  p.kernels["gemm/t1"] = linear({"macs", "call"}, {1e-6, 0.03}, "");
  p.kernels["elementwise/t1"] = linear({"bytes", "call"}, {1e-6, 0.04}, "");
  return p;
}

TEST(Predictor, OpsTheGpuUnitLeavesOnItsHostThreadArePricedAsTheHostsKernels) {
  const graph::Graph g = host_and_device_graph();
  const Prediction a = Predictor(g, calibrated_gpu_profile(0.1), {0, "gpu"}).predict();
  const Prediction b = Predictor(g, calibrated_gpu_profile(0.3), {0, "gpu"}).predict();
  ASSERT_EQ(a.ops.size(), b.ops.size());
  int host = 0, device_copies = 0;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    const OpPrediction& o = a.ops[i];
    SCOPED_TRACE(o.name + " (" + o.type + ")");
    EXPECT_GT(o.ms, 0.0);
    if (o.type == "Split" || o.type == "Transpose") {
      // The CPU copy at one thread, whatever the device's copy model says.
      EXPECT_EQ(o.model, "host");
      EXPECT_EQ(o.ms, b.ops[i].ms);
      EXPECT_GE(o.ms, 0.02);
      ++host;
    } else if (o.type == "Flatten") {
      // A reshape-like copy runs on the device (ocl_copy): its model.
      EXPECT_EQ(o.model, "fitted");
      EXPECT_NEAR(b.ops[i].ms - o.ms, 0.2, 1e-9);
      ++device_copies;
    } else if (o.type == "Gemm" || o.type == "Softmax") {
      EXPECT_EQ(o.model, "host");
      ++host;
    }
  }
  EXPECT_EQ(host, 4);
  EXPECT_EQ(device_copies, 1);
}

TEST(Predictor, GpuCopiesFallWhereTheHostAndTheDeviceMeet) {
  // Each tensor that crosses between the device and the unit's host thread is copied once, in the
  // device op's step: the input up (at the conv), the conv's output down (the split reads it), the
  // split's second half and the transpose's output up (the concat reads them), the flatten's output
  // down (the Gemm reads it). Host ops chained on the host (Gemm, softmax, the graph output) copy
  // nothing. +1 ms a copy is +5 ms.
  const graph::Graph g = host_and_device_graph();
  model::Profile slow = calibrated_gpu_profile(0.1);
  for (auto& u : slow.units)
    if (u.kind == "gpu") u.host_transfer.latency_us += 1000;
  const Prediction a = Predictor(g, calibrated_gpu_profile(0.1), {0, "gpu"}).predict();
  const Prediction b = Predictor(g, slow, {0, "gpu"}).predict();
  EXPECT_NEAR(b.ms - a.ms, 5.0, 1e-6);
  // Each op names its copies' share (what a run's transfer time is checked against): the +1 ms a copy
  // lands in transfer_ms, and the op's time less its copies does not move.
  double copies_a = 0, copies_b = 0;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    if (a.ops[i].model == "host") EXPECT_EQ(a.ops[i].ms, b.ops[i].ms) << a.ops[i].name;
    if (a.ops[i].model == "host") EXPECT_EQ(a.ops[i].transfer_ms, 0.0) << a.ops[i].name;
    EXPECT_NEAR(a.ops[i].ms - a.ops[i].transfer_ms, b.ops[i].ms - b.ops[i].transfer_ms, 1e-9) << a.ops[i].name;
    copies_a += a.ops[i].transfer_ms, copies_b += b.ops[i].transfer_ms;
  }
  EXPECT_GT(copies_a, 0.0);
  EXPECT_NEAR(copies_b - copies_a, 5.0, 1e-6);
}

TEST(Predictor, ACopyBetweenADeviceOpAndAHostOpOnAnotherUnitIsCountedOnceAsACrossing) {
  // All on the gpu unit, the executor copies 5 tensors (GpuCopiesFallWhereTheHostAndTheDeviceMeet).
  // With the transpose on the CPU, its output reaches the concat as a crossing from cpu_big to the
  // device, which the simulator prices; the concat's own figure must not copy it up as well. The split's
  // half it reads crosses the other way. Every copy and crossing is +1 ms slower, on one dependency
  // chain: 4 copies + 2 crossings = +6 ms (7 when the transpose's output was counted twice).
  const graph::Graph g = host_and_device_graph();
  runtime::SparsitySpec split;
  split.layers["transpose"].unit = "cpu_big";
  model::Profile slow = calibrated_gpu_profile(0.1);
  for (auto& u : slow.units)
    if (u.kind == "gpu") u.host_transfer.latency_us += 1000, u.host_transfer.sync_us += 0;
  const Prediction a = Predictor(g, calibrated_gpu_profile(0.1), {0, "gpu"}).predict(split);
  const Prediction b = Predictor(g, slow, {0, "gpu"}).predict(split);
  EXPECT_EQ(b.transfers, 2);
  EXPECT_NEAR(b.ms - a.ms, 6.0, 1e-6);
  // The crossings are the simulator's: the ops' own copies are the 4 left, +1 ms each.
  double copies_a = 0, copies_b = 0;
  for (size_t i = 0; i < a.ops.size(); ++i) copies_a += a.ops[i].transfer_ms, copies_b += b.ops[i].transfer_ms;
  EXPECT_NEAR(copies_b - copies_a, 4.0, 1e-6);
  for (const OpPrediction& o : b.ops)
    if (o.name == "transpose") EXPECT_EQ(o.unit, "cpu_big");
  // All on the device, nothing crosses: the five copies stay in the device ops' figures.
  const Prediction all_a = Predictor(g, calibrated_gpu_profile(0.1), {0, "gpu"}).predict();
  const Prediction all_b = Predictor(g, slow, {0, "gpu"}).predict();
  EXPECT_NEAR(all_b.ms - all_a.ms, 5.0, 1e-6);
}

}  // namespace
}  // namespace hilsim::costmodel
