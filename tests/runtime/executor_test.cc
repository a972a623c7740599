#include "hilsim/runtime/executor.h"

#include <gtest/gtest.h>

#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/builder.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"
#include "runtime/executor_testing.h"

namespace hilsim::runtime {
namespace {

TEST(Executor, ZooModelsDenseMatchTheReference) {
  for (const auto& name : graph::zoo_names()) {
    ExecOptions o;
    expect_matches_reference(small(name), o, name);
    o.threads = 2;
    expect_matches_reference(small(name), o, name + "/t2");
  }
}

TEST(Executor, SparseFormatsMatchTheReferenceOnThePrunedGraph) {
  for (const std::string spec : {"block:8x4@0.8", "block_col:4x1@0.5", "pattern:2", "pattern:3", "csr@0.9"})
    for (const auto& name : {"yolov5s_like", "resnet18_like", "mobilenetv2_like"}) {
      ExecOptions o;
      o.sparsity = parse_sparsity_spec(spec);
      o.threads = 2;
      Executor ex(small(name), o);
      int sparse = 0;
      for (const auto& op : ex.ops()) sparse += op.format != "dense";
      EXPECT_GT(sparse, 0) << spec << " " << name;
      TensorMap in = random_inputs(ex.compiled_graph(), 5);
      TensorMap want = run_reference(ex.compiled_graph(), in);
      TensorMap got = ex.run(in);
      for (const auto& [out, w] : want) EXPECT_LT(max_rel_error(got.at(out), w), 1e-4) << spec << " " << name;
    }
}

// A squeeze-excite conv (1x1 on a 1x1 map) in a sparse format runs the dense GEMM on its pruned
// weights: the format is still reported, the zeros are in the compiled graph, the outputs match.
TEST(Executor, APrunedSqueezeExciteConvRunsTheGemmOnItsZeros) {
  graph::GraphBuilder b("se");
  const std::string x = b.input("x", {2, 40, 1, 1});
  b.output(b.conv(b.relu(b.conv(x, 24, 1, 1, 1, true, std::nullopt, 1, "fc1")), 40, 1, 1, 1, true, std::nullopt, 1, "fc2"));
  const graph::Graph g = b.finish();
  for (const std::string spec : {"pattern:2", "block:8x4@0.7", "csr@0.8"}) {
    ExecOptions o;
    o.sparsity = parse_sparsity_spec(spec);
    Executor ex(g, o);
    for (const auto& op : ex.ops()) {
      EXPECT_NE(op.format, "dense") << spec << " " << op.name;
      EXPECT_EQ(op.kernel.rfind("gemm_", 0), 0u) << spec << " " << op.kernel;
      EXPECT_EQ(op.executed_macs, op.macs) << spec;  // zeros and all
    }
    int zeros = 0;
    for (const float v : ex.compiled_graph().constant(ex.compiled_graph().op(*ex.compiled_graph().find_op("fc1")).inputs[1])->f32)
      zeros += v == 0.0f;
    EXPECT_GT(zeros, 40 * 24 / 2) << spec;
    TensorMap in = random_inputs(ex.compiled_graph(), 5);
    TensorMap want = run_reference(ex.compiled_graph(), in);
    TensorMap got = ex.run(in);
    for (const auto& [out, w] : want) EXPECT_LT(max_rel_error(got.at(out), w), 1e-4) << spec;
  }
}

TEST(Executor, ZerosAlreadyInTheWeightsAreDetectedAndRunSparse) {
  graph::Graph g = small("resnet18_like");
  // Prune the graph's own weights (as an emitted model would carry them), then run without a spec.
  ExecOptions prune;
  prune.sparsity = parse_sparsity_spec("block:8x4@0.8");
  prune.canonicalize = true;
  Executor pruned(g, prune);
  ExecOptions plain;
  Executor ex(pruned.compiled_graph(), plain);
  int detected = 0;
  for (const auto& op : ex.ops()) detected += op.format == "detected";
  EXPECT_GT(detected, 5);
  TensorMap in = random_inputs(ex.compiled_graph(), 5);
  TensorMap want = run_reference(ex.compiled_graph(), in);
  TensorMap got = ex.run(in);
  for (const auto& [out, w] : want) EXPECT_LT(max_rel_error(got.at(out), w), 1e-4);
}

TEST(Executor, AFormatALayerCannotTakeIsAnErrorNamingIt) {
  graph::Graph g = small("resnet18_like");
  ExecOptions o;
  o.sparsity = parse_sparsity_json(R"({"conv1": {"format": "pattern", "entries": 2}})", "spec");
  try {
    Executor ex(g, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("7x7"), std::string::npos) << e.what();
  }
}

TEST(Executor, TwoUnitBranchSplitMatchesTheReference) {
  graph::Graph g = small("yolov5s_like");
  ExecOptions o;
  o.units = parse_units("cpu0:0,cpu1:1");
  o.op_unit = halves(g, "cpu0", "cpu1");
  std::set<std::string> used;
  for (const auto& [op, u] : o.op_unit) used.insert(u);
  EXPECT_EQ(used.size(), 2u);  // both units get work
  expect_matches_reference(g, o, "yolov5s_like/split");
  Executor ex(g, o);
  RunTiming t;
  ex.run(random_inputs(ex.compiled_graph()), &t);
  EXPECT_GT(t.crossings, 0);
}

TEST(Executor, TwoUnitArenaReusesBytesWithinAUnitAndStaysExact) {
  for (const char* name : {"yolov5s_like", "resnet18_like", "mobilenetv2_like"}) {
    graph::Graph g = small(name);
    ExecOptions o;
    o.units = parse_units("cpu0:0,cpu1:1");
    o.op_unit = halves(g, "cpu0", "cpu1");
    Executor ex(g, o);
    int64_t all_bytes = 0;
    const graph::Graph& cg = ex.compiled_graph();
    for (const auto& in : cg.inputs())
      if (!cg.is_constant(in)) all_bytes += graph::numel(cg.shape(in)) * 4;
    for (graph::OpId id : cg.topological_order())
      for (const auto& out : cg.op(id).outputs)
        if (!out.empty()) all_bytes += graph::numel(cg.shape(out)) * 4;
    // Tensors local to a unit share bytes, so the arena is well below one slot per tensor.
    EXPECT_LT(ex.arena_bytes(), all_bytes * 3 / 4) << name;
    // Several runs in a row: a region reused across units would race and show up as wrong outputs.
    TensorMap in = random_inputs(cg, 9);
    TensorMap want = run_reference(cg, in);
    for (int rep = 0; rep < 5; ++rep) {
      TensorMap got = ex.run(in);
      for (const auto& [out, w] : want) EXPECT_LT(max_rel_error(got.at(out), w), 1e-4) << name << " " << out;
    }
  }
}

TEST(Executor, SingleUnitArenaEqualsThePeakOfTheAnalysis) {
  graph::Graph g = small("resnet18_like");
  Executor ex(g, {});
  EXPECT_EQ(ex.peak_live_bytes(), analysis::analyze(ex.compiled_graph()).peak_activation_bytes);
  EXPECT_GE(ex.arena_bytes(), ex.peak_live_bytes());
}

TEST(Executor, MeasureReportsOrderedQuantiles) {
  graph::Graph g = small("mobilenetv2_like");
  Executor ex(g, {});
  Measurement m = measure(ex, random_inputs(ex.compiled_graph()), 1, 5);
  EXPECT_LE(m.ms_p10, m.ms_median);
  EXPECT_LE(m.ms_median, m.ms_p90);
  EXPECT_EQ(m.op_ms_median.size(), ex.ops().size());
}

TEST(Executor, BadAssignmentsAreClearErrors) {
  graph::Graph g = small("resnet18_like");
  ExecOptions o;
  o.units = parse_units("cpu0:0");
  o.op_unit["no_such_op"] = "cpu0";
  EXPECT_THROW(Executor(g, o), Error);
  ExecOptions o2;
  o2.units = parse_units("cpu0:0");
  o2.op_unit["conv1"] = "gpu";
  EXPECT_THROW(Executor(g, o2), Error);
  EXPECT_THROW(parse_units("cpu0:999"), Error);
}

TEST(Executor, ChannelSplitBetweenTwoCoresMatchesTheReference) {
  // CoDL's split of one conv along output channels, here between two CPU units (the gpu unit's case is
  // in gpu_lowering_test): both parts run at once and the join gives the original tensor.
  graph::Graph g = small("resnet18_like");
  int64_t f = 0;
  const std::string conv = largest_dense_conv(g, &f);
  ASSERT_FALSE(conv.empty());
  for (int64_t first : {int64_t{1}, f / 4, f - 3}) {
    ExecOptions o;
    o.units = parse_units("cpu0:0,cpu1:1", 0);
    o.channel_splits[conv] = {"cpu1", first};
    expect_matches_reference(g, o, conv + " split at " + std::to_string(first));
    Executor ex(g, o);
    std::map<std::string, std::string> unit_of;
    for (const auto& op : ex.ops()) unit_of[op.name] = op.unit;
    EXPECT_EQ(unit_of.at(conv + "/ch0"), "cpu1");
    EXPECT_EQ(unit_of.at(conv + "/ch1"), "cpu0");
    EXPECT_EQ(unit_of.at(conv + "/join"), "cpu0");
    EXPECT_FALSE(unit_of.count(conv));
  }
  ExecOptions bad;
  bad.units = parse_units("cpu0:0,cpu1:1", 0);
  bad.channel_splits[conv] = {"cpu1", f};  // nothing left for the second part
  EXPECT_THROW(Executor(g, bad), Error);
  bad.channel_splits[conv] = {"cpu0", 4};  // both parts on one unit
  EXPECT_THROW(Executor(g, bad), Error);
  bad.channel_splits.clear();
  bad.channel_splits[conv] = {"cpu1", 4};
  bad.sparsity = parse_sparsity_spec("block:8x4@0.5");
  EXPECT_THROW(Executor(g, bad), Error);  // pruned: not supported yet, and said so
}

}  // namespace
}  // namespace hilsim::runtime
