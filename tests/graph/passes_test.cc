#include <gtest/gtest.h>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/passes/bn_fold.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/passes/coupled_groups.h"
#include "hilsim/graph/passes/fusion.h"
#include "hilsim/graph/passes/layer_norm_fusion.h"
#include "hilsim/graph/passes/gelu_fusion.h"
#include "hilsim/graph/passes/pad_fold.h"
#include "hilsim/graph/passes/reparam.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/reference_executor.h"

namespace hilsim::graph {
namespace {

// Outputs of `after` equal those of `before` within 1e-4 relative on the same random inputs.
void expect_same_outputs(const Graph& before, const Graph& after) {
  runtime::TensorMap in = runtime::random_inputs(before, 11);
  runtime::TensorMap a = runtime::run_reference(before, in);
  runtime::TensorMap b = runtime::run_reference(after, in);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_LT(runtime::max_rel_error(b.at(name), t), 1e-4) << name;
  }
}

// The built graph and a copy for a pass to rewrite; check() infers the copy's shapes and compares its
// outputs with the original's.
struct Rewrite {
  Graph before, after;
  explicit Rewrite(GraphBuilder& b) : before(b.finish()), after(before) {}
  void check() {
    infer_shapes(after);
    expect_same_outputs(before, after);
  }
};

int count_type(const Graph& g, const std::string& type);

// Runs `pass` on a copy of the built graph: it removes `removed` nodes and leaves `left` ops of `type`,
// and the copy computes what the original did. Returns the copy.
template <typename Pass>
Graph expect_rewrite(GraphBuilder& b, Pass pass, size_t removed, const std::string& type, int left) {
  Rewrite rw(b);
  EXPECT_EQ(pass(rw.after).size(), removed);
  EXPECT_EQ(count_type(rw.after, type), left);
  rw.check();
  return rw.after;
}

int count_type(const Graph& g, const std::string& type) {
  int n = 0;
  for (OpId i = 0; i < g.num_ops(); ++i) n += g.op(i).type == type;
  return n;
}

TEST(Passes, BatchNormFoldsIntoConvAndGemm) {
  GraphBuilder b("bn", 3);
  std::string x = b.input("x", {1, 5, 9, 7});
  std::string c = b.conv_bn(x, 6, 3, 2);                      // conv without bias
  std::string d = b.batchnorm(b.conv(c, 6, 3, 1, 3, true));   // grouped conv with bias
  std::string f = b.batchnorm(b.gemm(b.flatten(b.global_avgpool(d)), 4));
  b.output(f);
  Rewrite rw(b);
  Graph& h = rw.after;
  EXPECT_EQ(passes::fold_batchnorm(h), 3);
  EXPECT_EQ(count_type(h, "BatchNormalization"), 0);
  rw.check();
}

TEST(Passes, BatchNormStaysWhenTheConvOutputIsShared) {
  GraphBuilder b("bn2", 4);
  std::string x = b.input("x", {1, 3, 6, 6});
  std::string c = b.conv(x, 4, 3);
  b.output(b.add(b.batchnorm(c), c));
  Rewrite rw(b);
  Graph& h = rw.after;
  EXPECT_EQ(passes::fold_batchnorm(h), 0);
}

TEST(Passes, StandaloneBatchNormFoldsIntoAnUnpaddedConvAfterIt) {
  GraphBuilder b("bn_next", 23);
  std::string x = b.input("x", {1, 4, 9, 7});
  std::string cat = b.concat({x, b.conv(x, 4, 3)});  // nothing before the BN to fold into
  // Folds: grouped 1x1 conv with bias, and a strided 3x3 conv without padding or bias.
  b.output(b.conv(b.batchnorm(cat), 6, 1, 1, 2, true, int64_t{0}));
  b.output(b.conv(b.batchnorm(cat), 5, 3, 2, 1, false, int64_t{0}));
  // Stays: the conv pads (its border taps read zeros, not the BN's shift), and a BN read twice.
  b.output(b.conv(b.batchnorm(cat), 3, 3, 1, 1, true, int64_t{1}));
  std::string shared = b.batchnorm(cat);
  b.output(b.conv(shared, 2, 1, 1, 1, true, int64_t{0}));
  b.output(b.relu(shared));
  expect_rewrite(b, passes::fold_batchnorm_into_next_conv, 2u, "BatchNormalization", 2);
}

TEST(Passes, ZeroPadFoldsIntoTheConvThatAloneReadsIt) {
  GraphBuilder b("padfold", 21);
  std::string x = b.input("x", {1, 3, 11, 9});
  auto pads = [&](std::vector<int64_t> v) { return b.constant(Tensor::ints(b.graph().fresh_name("pads"), v, {8})); };
  // Folds: zero pad (asymmetric) into a conv that already pads.
  std::string a = b.conv(b.op("Pad", {x, pads({0, 0, 1, 0, 0, 0, 2, 3})})[0], 4, 3, 1, 1, true, int64_t{1});
  // Stays: reflect pad, a channel pad, and a zero pad that a second op also reads.
  std::string r = b.conv(b.op("Pad", {a, pads({0, 0, 1, 1, 0, 0, 1, 1})}, {{"mode", std::string("reflect")}})[0], 4, 3,
                         1, 1, true, int64_t{0});
  std::string c = b.op("Pad", {r, pads({0, 1, 0, 0, 0, 0, 0, 0})})[0];
  std::string shared = b.op("Pad", {x, pads({0, 0, 1, 1, 0, 0, 1, 1})})[0];
  b.output(b.conv(c, 2, 1, 1, 1, true, int64_t{0}));
  b.output(b.conv(shared, 2, 3, 1, 1, true, int64_t{0}));
  b.output(b.relu(shared));
  // Folds: a zero pad before an unpadded average pool (torch's AvgPool2d(padding=1) export), which then
  // counts the pads. Stays: before a pool that excludes its own pads.
  b.output(b.op("AveragePool", {b.op("Pad", {x, pads({0, 0, 1, 1, 0, 0, 1, 1})})[0]},
                {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}},
                 {"ceil_mode", int64_t{1}}})[0]);
  b.output(b.op("AveragePool", {b.op("Pad", {x, pads({0, 0, 1, 0, 0, 0, 0, 1})})[0]},
                {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}})[0]);
  expect_rewrite(b, passes::fold_pads_into_convs, 2u, "Pad", 4);
}

TEST(Passes, ExportedGeluBecomesOneNode) {
  GraphBuilder b("gelu", 22);
  std::string x = b.conv(b.input("x", {1, 3, 7, 5}), 4, 3);
  auto scalar = [&](float v) { return b.constant(Tensor{b.graph().fresh_name("c"), DType::kFloat32, {}, {v}, {}}); };
  std::string e = b.op("Erf", {b.op("Div", {x, scalar(1.4142135f)})[0]})[0];
  std::string y = b.op("Mul", {b.op("Mul", {x, b.op("Add", {e, scalar(1.0f)})[0]})[0], scalar(0.5f)})[0];
  b.output(y);
  // Not GELU: the constant is not 1/2.
  std::string e2 = b.op("Erf", {b.op("Div", {x, scalar(1.4142135f)})[0]})[0];
  b.output(b.op("Mul", {b.op("Mul", {b.op("Add", {e2, scalar(1.0f)})[0], x})[0], scalar(0.25f)})[0]);
  const Graph h = expect_rewrite(b, passes::fuse_gelu, 4u, "Gelu", 1);
  EXPECT_EQ(count_type(h, "Erf"), 1);
}

TEST(Passes, ExportedTanhGeluBecomesOneNode) {
  GraphBuilder b("gelu_tanh", 22);
  std::string x = b.conv(b.input("x", {1, 3, 7, 5}), 4, 3);
  auto scalar = [&](float v) { return b.constant(Tensor{b.graph().fresh_name("c"), DType::kFloat32, {}, {v}, {}}); };
  // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) in torch's node order; `kappa` varies.
  auto gelu = [&](float kappa) {
    std::string cube = b.op("Mul", {x, b.op("Mul", {x, x})[0]})[0];
    std::string s = b.op("Add", {x, b.op("Mul", {scalar(kappa), cube})[0]})[0];
    std::string t = b.op("Tanh", {b.op("Mul", {scalar(0.7978845834732056f), s})[0]})[0];
    return b.op("Mul", {scalar(0.5f), b.op("Mul", {x, b.op("Add", {scalar(1.0f), t})[0]})[0]})[0];
  };
  b.output(gelu(0.044715f));
  b.output(gelu(0.05f));  // not GELU
  const Graph h = expect_rewrite(b, passes::fuse_gelu_tanh, 8u, "Gelu", 1);
  EXPECT_EQ(count_type(h, "Tanh"), 1);
  for (OpId id = 0; id < h.num_ops(); ++id) {
    if (h.op(id).type == "Gelu") {
      EXPECT_EQ(h.op(id).attr_string("approximate", ""), "tanh");
    }
  }
}

TEST(Passes, ExportedLayerNormChainBecomesOneNode) {
  // LayerNorm over the last axis as torch exports it below opset 17, on an NHWC view of a conv output.
  GraphBuilder b("layernorm", 23);
  auto scalar = [&](float v) { return b.constant(Tensor{b.graph().fresh_name("c"), DType::kFloat32, {}, {v}, {}}); };
  std::string x = b.op("Transpose", {b.conv(b.input("x", {1, 3, 7, 5}), 6, 3)}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}})[0];
  auto layer_norm = [&](const std::string& in, bool affine) {
    std::string mean = b.op("ReduceMean", {in}, {{"axes", std::vector<int64_t>{-1}}})[0];
    std::string d = b.op("Sub", {in, mean})[0];
    std::string var = b.op("ReduceMean", {b.op("Pow", {d, scalar(2.0f)})[0]}, {{"axes", std::vector<int64_t>{-1}}})[0];
    std::string y = b.op("Div", {d, b.op("Sqrt", {b.op("Add", {var, scalar(1e-6f)})[0]})[0]})[0];
    if (!affine) return y;
    y = b.op("Mul", {y, b.random_constant("gamma", {6}, 1.0f)})[0];
    return b.op("Add", {y, b.random_constant("beta", {6}, 0.5f)})[0];
  };
  b.output(layer_norm(x, true));
  b.output(layer_norm(b.relu(x), false));
  // Not a layer norm: the square is a cube.
  std::string mean = b.op("ReduceMean", {x}, {{"axes", std::vector<int64_t>{-1}}})[0];
  std::string d = b.op("Sub", {x, mean})[0];
  std::string var = b.op("ReduceMean", {b.op("Pow", {d, scalar(3.0f)})[0]}, {{"axes", std::vector<int64_t>{-1}}})[0];
  b.output(b.op("Div", {d, b.op("Sqrt", {b.op("Add", {var, scalar(1e-6f)})[0]})[0]})[0]);
  Rewrite rw(b);
  Graph& h = rw.after;
  std::vector<std::string> removed;
  EXPECT_EQ(passes::fuse_layer_norm(h, &removed), 2);
  EXPECT_EQ(removed.size(), 8u + 6u);  // nine ops less the one kept, seven less the one kept
  EXPECT_EQ(count_type(h, "LayerNormalization"), 2);
  EXPECT_EQ(count_type(h, "Pow"), 1);
  rw.check();
}

TEST(Passes, MobileOneBranchesBecomeOneConv) {
  for (int branches : {1, 2, 4}) {
    GraphBuilder b("mo", 5 + branches);
    std::string x = b.input("x", {1, 8, 11, 11});
    // k conv-BN 3x3 branches + 1x1 conv-BN + BN identity, grouped (depthwise) and dense variants.
    for (int64_t groups : {int64_t{1}, int64_t{8}}) {
      std::vector<std::string> terms;
      for (int i = 0; i < branches; ++i) terms.push_back(b.conv_bn(x, 8, 3, 1, groups));
      terms.push_back(b.batchnorm(b.conv(x, 8, 1, 1, groups, false, 0)));
      terms.push_back(b.batchnorm(x));
      std::string s = terms[0];
      for (size_t i = 1; i < terms.size(); ++i) s = b.add(s, terms[i]);
      x = b.relu(s);
    }
    b.output(x);
    Graph g = b.finish();
    Graph h = g;
    EXPECT_GT(passes::reparameterize(h), 0);
    EXPECT_EQ(count_type(h, "Add"), 0);
    EXPECT_EQ(count_type(h, "BatchNormalization"), 0);
    EXPECT_EQ(count_type(h, "Conv"), 2);
    infer_shapes(h);
    expect_same_outputs(g, h);
  }
}

TEST(Passes, ResidualAddOfDifferentInputsIsNotMerged) {
  GraphBuilder b("res", 9);
  std::string x = b.input("x", {1, 4, 6, 6});
  std::string y = b.relu(b.conv_bn(x, 4, 3));
  b.output(b.add(b.conv_bn(y, 4, 3), x));
  Rewrite rw(b);
  Graph& h = rw.after;
  passes::reparameterize(h);
  EXPECT_EQ(count_type(h, "Add"), 1);
  rw.check();
}

TEST(Passes, ActivationsFuseIntoTheirConv) {
  GraphBuilder b("fuse", 2);
  std::string x = b.input("x", {1, 3, 8, 8});
  std::string a = b.relu(b.conv(x, 4, 3));
  std::string c = b.clip(b.conv(a, 4, 3), 0.0f, 6.0f);
  std::string d = b.silu(b.conv(c, 4, 1));
  std::string e = b.hardswish(b.conv(d, 4, 3));
  std::string f = b.sigmoid(b.conv(e, 4, 3));
  std::string h2 = b.hardsigmoid(b.conv(f, 4, 3), 0.25f, 0.4f);
  b.output(h2);
  Rewrite rw(b);
  Graph& h = rw.after;
  EXPECT_EQ(passes::fuse_activations(h), 6);
  EXPECT_EQ(h.num_ops(), 6u);
  EXPECT_EQ(h.op(*h.find_op(h.op(h.topological_order()[2]).name)).fused.kind, Activation::kSiLU);
  rw.check();
}

TEST(Passes, ActivationsFuseIntoResidualAddsAndMuls) {
  GraphBuilder b("fuse_add", 3);
  std::string x = b.input("x", {1, 4, 7, 9});
  std::string a = b.conv(x, 4, 3);
  std::string r = b.relu(b.add(a, x));         // ResNet's residual
  std::string s = b.silu(b.add(r, a));         // SiLU after an add: Sigmoid + Mul on its output
  std::string m = b.clip(b.mul(s, r), 0.0f, 6.0f);
  b.output(m);
  Rewrite rw(b);
  Graph& h = rw.after;
  EXPECT_EQ(passes::fuse_activations(h), 3);
  EXPECT_EQ(count_type(h, "Relu") + count_type(h, "Sigmoid") + count_type(h, "Clip"), 0);
  EXPECT_EQ(count_type(h, "Mul"), 1);  // the SiLU's Mul went, the product stayed
  rw.check();
}

TEST(Passes, CanonicalPassesKeepEveryZooModelsOutputs) {
  for (const auto& name : zoo_names()) {
    ZooOptions o;
    o.resolution = 64;
    o.width = 0.25;
    Graph g = make_zoo_model(name, o);
    Graph h = g;
    passes::canonicalize(h);
    EXPECT_EQ(count_type(h, "BatchNormalization"), 0) << name;
    expect_same_outputs(g, h);
  }
}

TEST(Passes, CoupledGroupsFollowAddsAndDepthwise) {
  GraphBuilder b("cg", 1);
  std::string x = b.input("x", {1, 8, 8, 8});
  std::string a = b.conv(x, 16, 1, 1, 1, true, std::nullopt, 1, "a");
  std::string c = b.conv(a, 16, 3, 1, 1, true, std::nullopt, 1, "c");
  std::string s = b.add(a, c);                                        // a and c coupled by the Add
  std::string dw = b.conv(s, 16, 3, 1, 16, true, std::nullopt, 1, "dw");  // depthwise follows them
  std::string p = b.conv(dw, 8, 1, 1, 1, true, std::nullopt, 1, "p");     // child
  b.output(p);
  Graph g = b.finish();
  auto groups = passes::find_coupled_groups(g);
  ASSERT_EQ(groups.size(), 1u);
  std::set<std::string> parents(groups[0].convs.begin(), groups[0].convs.end());
  EXPECT_EQ(parents, (std::set<std::string>{"a", "c", "dw"}));
  EXPECT_NE(std::find(groups[0].children.begin(), groups[0].children.end(), "p"), groups[0].children.end());
  EXPECT_NE(std::find(groups[0].children.begin(), groups[0].children.end(), "c"), groups[0].children.end());
}

}  // namespace
}  // namespace hilsim::graph
