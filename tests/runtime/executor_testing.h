// Helpers of the executor's tests (CPU and gpu units): small zoo models, the comparison with the
// reference executor, and a two-unit assignment.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

#include "hilsim/graph/graph.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"

namespace hilsim::runtime {

inline graph::Graph small(const std::string& name) {
  graph::ZooOptions o;
  o.resolution = 64;
  o.width = 0.25;
  return graph::make_zoo_model(name, o);
}

// The executor's outputs equal the reference executor on the graph it actually ran, twice (the arena,
// device buffers and uploads are reused between runs), and, unpruned, that graph computes what the
// original model computes (passes are exact). `each_run` checks a run's timing further.
inline void expect_matches_reference(const graph::Graph& g, const ExecOptions& opts, const std::string& label,
                                     const std::function<void(const Executor&, const RunTiming&)>& each_run = {}) {
  Executor ex(g, opts);
  TensorMap in = random_inputs(ex.compiled_graph(), 5);
  TensorMap want = run_reference(ex.compiled_graph(), in);
  for (int rep = 0; rep < 2; ++rep) {
    RunTiming t;
    TensorMap got = ex.run(in, &t);
    ASSERT_EQ(got.size(), want.size()) << label;
    for (const auto& [name, w] : want) EXPECT_LT(max_rel_error(got.at(name), w), 1e-4) << label << " " << name;
    EXPECT_EQ(t.op_ms.size(), ex.ops().size()) << label;
    if (each_run) each_run(ex, t);
  }
  if (opts.sparsity.all || !opts.sparsity.layers.empty()) return;  // pruned: the weights differ by design
  TensorMap orig = run_reference(g, in);
  for (const auto& [name, w] : orig) EXPECT_LT(max_rel_error(want.at(name), w), 1e-4) << label << " " << name;
}

// Two units, the first half of the canonical ops on `first` and the rest on `second`: tensors cross
// (skip connections reach across the halves) and both units work. Which split is fastest is the
// partitioner's business; here only exactness and the hand-offs matter.
inline std::map<std::string, std::string> halves(const graph::Graph& g0, const std::string& first,
                                                 const std::string& second) {
  graph::Graph g = g0;
  graph::passes::canonicalize(g);
  const auto order = g.topological_order();
  std::map<std::string, std::string> assign;
  for (size_t i = 0; i < order.size(); ++i) assign[g.op(order[i]).name] = i < order.size() / 2 ? first : second;
  return assign;
}

// The canonical graph's dense (ungrouped) conv with the most MACs-like weight count: the one a CoDL
// channel split is tried on.
inline std::string largest_dense_conv(const graph::Graph& g0, int64_t* out_channels) {
  graph::Graph g = g0;
  graph::passes::canonicalize(g);
  std::string best;
  int64_t best_w = 0;
  for (graph::OpId id : g.topological_order()) {
    const graph::Op& op = g.op(id);
    if (op.type != "Conv" || op.attr_int("group", 1) != 1 || !g.constant(op.inputs[1])) continue;
    const graph::Tensor* w = g.constant(op.inputs[1]);
    if (w->numel() > best_w) best_w = w->numel(), best = op.name, *out_channels = w->shape[0];
  }
  return best;
}

}  // namespace hilsim::runtime
