#include "hilsim/graph/passes/channel_split.h"

#include <gtest/gtest.h>

#include "hilsim/graph/builder.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/util/error.h"

namespace hilsim::graph::passes {
namespace {

Graph two_convs() {
  GraphBuilder b("split", 3);
  std::string x = b.input("x", {1, 5, 7, 9});
  x = b.conv(x, 11, 3, 1, 1, true, std::nullopt, 1, "a");
  x = b.relu(x);
  x = b.conv(x, 6, 1, 2, 1, false, std::nullopt, 1, "b");
  b.output(x);
  return b.finish();
}

TEST(ChannelSplit, PartsAndJoinComputeTheConv) {
  const Graph g = two_convs();
  const runtime::TensorMap in = runtime::random_inputs(g, 2);
  const runtime::TensorMap want = runtime::run_reference(g, in);
  for (const auto& [op, first] : std::vector<std::pair<std::string, int64_t>>{{"a", 1}, {"a", 10}, {"a", 4}, {"b", 3}}) {
    Graph s = g;
    const ChannelSplitParts parts = split_conv_channels(s, op, first);
    EXPECT_EQ(parts.first, op + "/ch0");
    EXPECT_FALSE(s.find_op(op));
    const Op& p0 = s.op(*s.find_op(parts.first));
    const Op& p1 = s.op(*s.find_op(parts.second));
    EXPECT_EQ(s.shape(p0.outputs[0])[1], first);
    EXPECT_EQ(s.shape(p1.outputs[0])[1], s.shape(s.op(*s.find_op(parts.join)).outputs[0])[1] - first);
    EXPECT_EQ(p1.input(2).has_value(), op == "a");  // the bias is split with the weights
    const runtime::TensorMap got = runtime::run_reference(s, in);
    for (const auto& [name, t] : want) EXPECT_LT(runtime::max_rel_error(got.at(name), t), 1e-6) << op << " at " << first;
  }
}

TEST(ChannelSplit, BadSplitsNameTheOp) {
  Graph g = two_convs();
  for (const auto& [op, first] : std::vector<std::pair<std::string, int64_t>>{{"a", 0}, {"a", 11}, {"nope", 1}}) {
    Graph s = g;
    try {
      split_conv_channels(s, op, first);
      FAIL() << op << " " << first;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + op + "'"), std::string::npos) << e.what();
    }
  }
  GraphBuilder b("dw", 1);
  std::string x = b.input("x", {1, 4, 5, 5});
  b.output(b.conv(x, 4, 3, 1, 4, true, std::nullopt, 1, "dw"));
  Graph d = b.finish();
  EXPECT_THROW(split_conv_channels(d, "dw", 2), Error);
}

}  // namespace
}  // namespace hilsim::graph::passes
