#include "hilsim/graph/graph.h"

#include <gtest/gtest.h>

#include "hilsim/util/error.h"

using namespace hilsim::graph;

namespace {
Op make(const std::string& name, const std::string& type, std::vector<std::string> in, std::vector<std::string> out) {
  Op op;
  op.name = name;
  op.type = type;
  op.inputs = std::move(in);
  op.outputs = std::move(out);
  return op;
}
}  // namespace

TEST(Graph, TopologicalOrderFollowsDataNotInsertion) {
  Graph g;
  g.add_input({"x", DType::kFloat32, {1, 3, 8, 8}, true});
  g.add_op(make("c", "Add", {"a", "b"}, {"y"}));
  g.add_op(make("a", "Relu", {"x"}, {"a"}));
  g.add_op(make("b", "Sigmoid", {"a"}, {"b"}));
  g.add_output("y");
  auto order = g.topological_order();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(g.op(order[0]).name, "a");
  EXPECT_EQ(g.op(order[1]).name, "b");
  EXPECT_EQ(g.op(order[2]).name, "c");
  EXPECT_EQ(g.consumers("a").size(), 2u);
  EXPECT_EQ(*g.producer("y"), *g.find_op("c"));
  EXPECT_EQ(g.in_edges(*g.find_op("c")).size(), 2u);
}

TEST(Graph, CycleIsReportedWithANode) {
  Graph g;
  g.add_op(make("p", "Relu", {"q_out"}, {"p_out"}));
  g.add_op(make("q", "Relu", {"p_out"}, {"q_out"}));
  try {
    g.topological_order();
    FAIL() << "expected a cycle error";
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos);
  }
}

TEST(Graph, RemoveAndRewireKeepsConnectivity) {
  Graph g;
  g.add_input({"x", DType::kFloat32, {1, 4}, true});
  g.add_op(make("id", "Identity", {"x"}, {"t"}));
  g.add_op(make("r", "Relu", {"t"}, {"y"}));
  g.add_output("y");
  g.replace_uses("t", "x");
  g.remove_ops({*g.find_op("id")});
  ASSERT_EQ(g.num_ops(), 1u);
  EXPECT_FALSE(g.producer("t").has_value());
  EXPECT_EQ(g.consumers("x").size(), 1u);
  EXPECT_THROW(g.add_op(make("r", "Relu", {"y"}, {"z"})), hilsim::Error);
}

TEST(Graph, CopyIsDeep) {
  Graph g;
  g.set_constant(Tensor::zeros("w", {2, 2}));
  Graph h = g;
  h.mutable_constant("w")->f32[0] = 5.0f;
  EXPECT_EQ(g.constant("w")->f32[0], 0.0f);
}
