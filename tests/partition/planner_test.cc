#include "hilsim/partition/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "hilsim/graph/zoo.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/emitter.h"
#include "hilsim/partition/packed_model.h"
#include "hilsim/util/error.h"
#include "partition/partition_testing.h"
#include "util/expect_error.h"

namespace hilsim::partition {
namespace {

TEST(Planner, MeetsThePredictedTargetAndKeepsFirstLayerDense) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o = speedup_options(1.6);
  Plan p = make_plan(small("resnet18_like"), "zoo:resnet18_like@64x0.5", prof, kProfile, o);
  EXPECT_LE(p.predicted.ms, p.target_ms * 1.0001);
  EXPECT_GT(p.saliency, 0.0);
  EXPECT_LT(p.saliency, 1.0);
  EXPECT_LE(p.solver_gap, 0.05);
  bool first_dense = false;
  for (const auto& l : p.layers)
    if (l.op == "conv1") first_dense = l.setting.format == runtime::Format::kDense;
  EXPECT_TRUE(first_dense);
  // Round trip through the versioned file.
  Plan q = plan_from_json(plan_to_json(p), "plan.json");
  EXPECT_EQ(q.fingerprint, p.fingerprint);
  ASSERT_EQ(q.layers.size(), p.layers.size());
  std::map<std::string, const LayerChoice*> back;
  for (const auto& l : q.layers) back[l.op] = &l;
  for (const auto& l : p.layers) {
    // Every layer's figures come back, dense ones included (their dense time used to read back as 0).
    ASSERT_TRUE(back.count(l.op)) << l.op;
    EXPECT_NEAR(back[l.op]->ms, l.ms, 1e-9) << l.op;
    EXPECT_NEAR(back[l.op]->dense_ms, l.dense_ms, 1e-9) << l.op;
    EXPECT_GT(back[l.op]->dense_ms, 0.0) << l.op;
    EXPECT_EQ(back[l.op]->group, l.group) << l.op;
  }
}

// The trade-off the report draws: solved at many budgets, monotone, ending at dense, with the chosen
// plan on it (nothing on the front is faster and keeps more, beyond the solver's stated gap).
TEST(Planner, FrontIsMonotoneAndHoldsTheChosenPlan) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o = speedup_options(1.4);
  o.front_points = 10;
  Plan p = make_plan(small("resnet18_like"), "m", prof, kProfile, o);
  ASSERT_GE(p.front.size(), 3u);
  for (size_t i = 1; i < p.front.size(); ++i) {
    EXPECT_GT(p.front[i].sum_ms, p.front[i - 1].sum_ms);
    EXPECT_GT(p.front[i].saliency, p.front[i - 1].saliency);
  }
  EXPECT_NEAR(p.front.back().saliency, 1.0, 1e-9);
  EXPECT_NEAR(p.chosen.saliency, p.saliency, 1e-9);
  EXPECT_NEAR(p.chosen.sum_ms, p.predicted.sum_ms, 1e-6 * p.predicted.sum_ms);
  for (const auto& q : p.front)
    if (q.sum_ms <= p.chosen.sum_ms) EXPECT_LE(q.saliency, p.chosen.saliency + p.solver_gap + 1e-9);
  o.front_points = 0;
  EXPECT_TRUE(make_plan(small("resnet18_like"), "m", prof, kProfile, o).front.empty());
}

TEST(Planner, UnreachableTargetNamesTheBestLatency) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o;
  o.target_speedup = 100;
  expect_error([&] { make_plan(small("resnet18_like"), "m", prof, kProfile, o); }, "not reachable");
}

TEST(Planner, BadPlanFilesNameTheField) {
  expect_error([] { plan_from_json("{\"version\": 7}", "p.json"); }, "version");
  expect_error([] { plan_from_json("{\"version\": 1}", "p.json"); }, "field");
  expect_error([] { plan_from_json("not json", "p.json"); }, "p.json");
}

TEST(Emitter, EmittedModelMatchesTheReferenceAndRefusesAnotherModel) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o = speedup_options(1.5);
  o.formats = {"block", "pattern"};
  const graph::Graph model = small("yolov5s_like");
  Plan p = make_plan(model, "m", prof, kProfile, o);
  const std::string dir = std::string(HILSIM_BINARY_DIR) + "/test_emit";
  std::filesystem::remove_all(dir);
  EmitResult r = emit_model(model, p);
  EXPECT_GT(r.packed.convs.size(), 0u);
  write_emitted(r, p, dir);
  Validation v = validate_emitted(dir, &prof, 2);
  EXPECT_TRUE(v.numerics_ok) << v.max_rel_err;
  EXPECT_LT(v.max_rel_err, 1e-4);
  EXPECT_GT(v.measured_ms, 0);
  expect_error([&] { emit_model(small("resnet18_like"), p); }, "another model");

  // A corrupt or truncated packed file is refused before anything is built from it.
  const std::string path = dir + "/weights.hpk";
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;
  expect_error([&] { parse_packed(flipped, "w.hpk"); }, "checksum");
  expect_error([&] { parse_packed(bytes.substr(0, bytes.size() - 100), "w.hpk"); }, "truncated");
  expect_error([&] { parse_packed("HILSIMPK", "w.hpk"); }, "w.hpk");
  EXPECT_EQ(parse_packed(bytes, "w.hpk").convs.size(), r.packed.convs.size());

  // A plan.json of another plan for the same model (same fingerprint) beside these weights is refused.
  Plan other = p;
  auto sparse = std::find_if(other.layers.begin(), other.layers.end(),
                             [](const LayerChoice& l) { return l.setting.format != runtime::Format::kDense; });
  ASSERT_NE(sparse, other.layers.end());
  sparse->setting = runtime::LayerSparsity{};  // that layer kept dense in the other plan
  std::ofstream(dir + "/plan.json") << plan_to_json(other) << "\n";
  expect_error([&] { validate_emitted(dir, &prof, 1); }, "does not belong to weights.hpk");
  std::filesystem::remove_all(dir);
}

TEST(Planner, BranchSplitTakesTheGpuOnlyWhereItWinsThePredictedMakespan) {
  const graph::Graph g = small("yolov5s_like");
  for (double factor : {0.1, 100.0}) {
    SCOPED_TRACE(factor);
    costmodel::Predictor pred(g, with_gpu(factor), {1, "cpu0"});
    const auto assign = split_branches(pred, {}, {"cpu0", "gpu"});
    int on_gpu = 0;
    runtime::SparsitySpec split;
    for (const auto& [op, unit] : assign) {
      on_gpu += unit == "gpu";
      split.layers[op].unit = unit;
    }
    const double cpu_only = pred.predict().ms, chosen = pred.predict(split).ms;
    if (factor < 1) {
      // Ten times faster than a core, copies included: most ops move, and the split beats the core.
      EXPECT_GT(on_gpu, static_cast<int>(assign.size()) / 2);
      EXPECT_LT(chosen, cpu_only);
    } else {
      // A hundred times slower: moving an op never pays, so none does.
      EXPECT_EQ(on_gpu, 0);
      EXPECT_NEAR(chosen, cpu_only, 1e-9);
    }
  }
}

TEST(Planner, ChannelSplitIsKeptWhereFastestRecordedAndValidated) {
  // The synthetic gpu runs every class as fast as a core and a crossing costs 30 us on top of the
  // copy: sharing the heaviest conv of a chain (where branches have nothing to overlap) wins, but by
  // less than a split must win by (kMinSplitGain): recorded, not kept.
  const graph::Graph g = small("vgg_like");
  PlanOptions o;
  o.target_speedup = 1.0;
  o.threads = 1;
  o.unit = "cpu0";
  o.split_units = {"cpu0", "gpu"};
  const Plan close = make_plan(g, "m", with_gpu(1.0, 30), kProfile, o);
  ASSERT_TRUE(close.channel_split_best.has_value());
  EXPECT_LT(close.channel_split_best->predicted_ms, close.no_split_ms);
  EXPECT_GE(close.channel_split_best->predicted_ms, close.no_split_ms * (1 - kMinSplitGain));
  EXPECT_EQ(close.split, "none");
  EXPECT_FALSE(close.channel_split.has_value());
  // At 0.75 of a core's time the shared conv wins by more, and beats the branch split.
  const model::Profile prof = with_gpu(0.75, 30);
  const Plan p = make_plan(g, "m", prof, kProfile, o);
  ASSERT_TRUE(p.channel_split_best.has_value());
  EXPECT_EQ(p.split, "channels");
  ASSERT_TRUE(p.channel_split.has_value());
  EXPECT_DOUBLE_EQ(p.predicted.ms, p.channel_split->predicted_ms);
  EXPECT_LT(p.predicted.ms, p.no_split_ms);
  for (const LayerChoice& l : p.layers) EXPECT_TRUE(l.setting.unit.empty()) << l.op;
  // Written and read back whole; a damaged split is an error naming the field.
  const Plan q = plan_from_json(plan_to_json(p), "plan.json");
  ASSERT_TRUE(q.channel_split.has_value());
  EXPECT_EQ(q.split, "channels");
  EXPECT_EQ(q.channel_split->op, p.channel_split->op);
  EXPECT_EQ(q.channel_split->channels, p.channel_split->channels);
  EXPECT_EQ(q.channel_split->home, "cpu0");
  nlohmann::json bad = nlohmann::json::parse(plan_to_json(p));
  bad["channel_split"]["channels"] = bad["channel_split"]["of_channels"];
  expect_error([&] { plan_from_json(bad.dump(), "plan.json"); }, "channel_split.channels");
  // validate runs it on the plan's units: between two cores here (the gpu case needs OpenCL and is
  // the executor's test), outputs equal to the reference.
  Plan on_cores = p;
  on_cores.channel_split->unit = "cpu1";
  const std::string dir = std::string(HILSIM_BINARY_DIR) + "/test_emit_channel_split";
  write_emitted(emit_model(g, on_cores), on_cores, dir);
  const model::Profile cores = model::load_profile(kProfile);
  const Validation v = validate_emitted(dir, &cores, 1);
  EXPECT_TRUE(v.numerics_ok) << v.max_rel_err;
  EXPECT_DOUBLE_EQ(v.predicted_ms, p.predicted.ms);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hilsim::partition
