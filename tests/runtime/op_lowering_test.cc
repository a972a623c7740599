// The ops exported models use beyond convs, lowered onto native kernels: each one-op or two-op graph
// runs on a kernel other than "reference" and equals the reference executor within 1e-4, on odd shapes.
#include "hilsim/runtime/op_lowering.h"

#include <gtest/gtest.h>

#include <set>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/op_registry.h"
#include "hilsim/graph/passes/pad_fold.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {
namespace {

using graph::GraphBuilder;
using graph::Tensor;
using Ints = std::vector<int64_t>;

std::string ints(GraphBuilder& b, const std::string& name, Ints v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return b.constant(Tensor::ints(name, std::move(v), {n}));
}

// Runs `g` on the executor (one and two threads) and checks every op is native and the outputs match.
// Returns the kernels that ran.
std::set<std::string> expect_native_and_exact(const graph::Graph& g, const std::string& label) {
  std::set<std::string> kernels;
  for (int threads : {1, 2}) {
    ExecOptions o;
    o.threads = threads;
    Executor ex(g, o);
    EXPECT_FALSE(ex.ops().empty()) << label;
    for (const auto& op : ex.ops()) {
      EXPECT_NE(op.kernel, "reference") << label << ": " << op.name << " (" << op.type << ")";
      kernels.insert(op.kernel);
    }
    TensorMap in = random_inputs(ex.compiled_graph(), 3);
    TensorMap want = run_reference(g, in);
    for (int rep = 0; rep < 2; ++rep) {
      TensorMap got = ex.run(in);
      EXPECT_EQ(got.size(), want.size()) << label;
      for (const auto& [name, w] : want) EXPECT_LT(max_rel_error(got.at(name), w), 1e-4) << label << " " << name;
    }
  }
  return kernels;
}

void expect_kernels(const std::set<std::string>& ran, const std::vector<std::string>& want, const std::string& label) {
  for (const auto& k : want) EXPECT_TRUE(ran.count(k)) << label << ": no op ran on " << k;
}

TEST(OpLowering, StandaloneBatchNormAndFusedRelu) {
  GraphBuilder b("bn", 3);
  std::string x = b.input("x", {1, 7, 13, 5});
  // After a Concat nothing folds it: the DenseNet pattern BN -> ReLU -> conv.
  std::string c = b.concat({x, b.conv(x, 5, 3)});
  b.output(b.conv(b.relu(b.batchnorm(c)), 4, 1));
  b.output(b.batchnorm(x));
  graph::Graph g = b.finish();
  expect_kernels(expect_native_and_exact(g, "bn"), {"batchnorm_affine", "batchnorm_affine_relu"}, "bn");
  Executor ex(g, ExecOptions{});
  int fused = 0;
  for (const auto& op : ex.ops()) fused += op.kernel == "batchnorm_affine_relu";
  EXPECT_EQ(fused, 1);
}

TEST(OpLowering, TransposeSliceSplitAndChannelShuffle) {
  GraphBuilder b("layout", 4);
  std::string x = b.input("x", {1, 8, 13, 5});
  // ShuffleNetV2: split channels in half, then shuffle with Reshape -> Transpose -> Reshape.
  auto halves = b.split(x, {4, 4}, 1);
  std::string r = b.op("Reshape", {b.concat({halves[1], halves[0]}), ints(b, "s5", {1, 2, 4, 13, 5})})[0];
  std::string t = b.op("Transpose", {r}, {{"perm", Ints{0, 2, 1, 3, 4}}})[0];
  b.output(b.op("Reshape", {t, ints(b, "s4", {1, 8, 13, 5})})[0]);
  // A transpose that moves the innermost dim, and a reversing strided slice with negative indices.
  b.output(b.op("Transpose", {x}, {{"perm", Ints{0, 3, 1, 2}}})[0]);
  b.output(b.op("Slice", {x, ints(b, "st", {-1, 1}), ints(b, "en", {-100, 1000}), ints(b, "ax", {2, 3}),
                          ints(b, "sp", {-2, 3})})[0]);
  b.output(b.op("Split", {x}, {{"axis", int64_t{2}}, {"split", Ints{6, 7}}}, 2)[1]);
  expect_kernels(expect_native_and_exact(b.finish(), "layout"), {"split_copy", "transpose_copy", "slice_copy"},
                 "layout");
}

TEST(OpLowering, PadsInEveryModeAndTheConvFold) {
  for (const std::string mode : {"constant", "reflect", "edge"}) {
    GraphBuilder b("pad_" + mode, 5);
    std::string x = b.input("x", {1, 7, 13, 5});
    std::string p = b.op("Pad", {x, ints(b, "pads", {0, 0, 2, 1, 0, 0, 3, 4})}, {{"mode", mode}})[0];
    b.output(p);
    b.output(b.conv(b.op("Pad", {x, ints(b, "pads2", {0, 0, 1, 2, 0, 0, 1, 0})}, {{"mode", mode}})[0], 3, 3, 1, 1,
                    true, int64_t{0}));
    graph::Graph g = b.finish();
    expect_kernels(expect_native_and_exact(g, "pad " + mode), {"pad_" + mode}, mode);
    graph::Graph h = g;
    const auto folded = graph::passes::fold_pads_into_convs(h);
    EXPECT_EQ(folded.size(), mode == "constant" ? 1u : 0u) << mode;  // only a zero pad is the conv's own
  }
}

TEST(OpLowering, ReductionsAsGlobalPoolAndGeneral) {
  GraphBuilder b("reduce", 6);
  std::string x = b.input("x", {1, 7, 13, 5});
  b.output(b.op("ReduceMean", {x}, {{"axes", Ints{2, 3}}, {"keepdims", int64_t{1}}})[0]);
  b.output(b.op("ReduceMax", {x}, {{"axes", Ints{1}}, {"keepdims", int64_t{0}}})[0]);
  b.output(b.op("ReduceSum", {x, ints(b, "ax", {1, 3})}, {{"keepdims", int64_t{1}}})[0]);
  b.output(b.op("ReduceMean", {x}, {{"axes", Ints{-1}}})[0]);
  b.output(b.op("ReduceSum", {x}, {{"noop_with_empty_axes", int64_t{1}}})[0]);  // no axes: the identity
  expect_kernels(expect_native_and_exact(b.finish(), "reduce"), {"global_avg_pool", "reduce_max", "reduce_gather"},
                 "reduce");
}

TEST(OpLowering, ElementwiseMathSoftmaxAndGelu) {
  GraphBuilder b("math", 7);
  std::string x = b.input("x", {1, 7, 13, 5});
  std::string c = b.random_constant("c", {7, 1, 1}, 1.0f);
  b.output(b.op("Sub", {x, c})[0]);
  b.output(b.op("Div", {x, b.constant(Tensor{"two", graph::DType::kFloat32, {1}, {2.0f}, {}})})[0]);
  b.output(b.op("Tanh", {x})[0]);
  b.output(b.op("LeakyRelu", {x}, {{"alpha", 0.1f}})[0]);
  b.output(b.softmax(x, -1));
  b.output(b.softmax(x, 1));
  // GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2))).
  std::string sqrt2 = b.constant(Tensor{"sqrt2", graph::DType::kFloat32, {}, {1.41421356f}, {}});
  std::string one = b.constant(Tensor{"one", graph::DType::kFloat32, {}, {1.0f}, {}});
  std::string half = b.constant(Tensor{"half", graph::DType::kFloat32, {}, {0.5f}, {}});
  std::string e = b.op("Erf", {b.op("Div", {x, sqrt2})[0]})[0];
  b.output(b.op("Mul", {b.op("Mul", {x, b.op("Add", {e, one})[0]})[0], half})[0]);
  b.output(b.op("Erf", {x})[0]);
  // Pow by a constant: x^2 (decomposed layer norms), |x|^0.5, x^3.
  auto scalar = [&](const std::string& n, float v) {
    return b.constant(Tensor{n, graph::DType::kFloat32, {}, {v}, {}});
  };
  b.output(b.op("Pow", {x, scalar("p2", 2.0f)})[0]);
  b.output(b.op("Pow", {b.op("Abs", {x})[0], scalar("p05", 0.5f)})[0]);
  b.output(b.op("Pow", {x, scalar("p3", 3.0f)})[0]);
  expect_kernels(expect_native_and_exact(b.finish(), "math"),
                 {"sub_broadcast", "div_broadcast", "unary_tanh", "unary_leakyrelu", "unary_erf", "unary_gelu",
                  "unary_square", "unary_sqrt", "unary_pow", "softmax_last_axis", "softmax_axis"},
                 "math");
}

TEST(OpLowering, BilinearResizeInTheCoordinateModesTorchExports) {
  for (const std::string coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
    GraphBuilder b("resize_" + coord, 8);
    std::string x = b.input("x", {1, 3, 7, 5});
    std::string scales = b.constant(Tensor{"scales", graph::DType::kFloat32, {4}, {1.0f, 1.0f, 2.0f, 2.0f}, {}});
    std::string roi = b.constant(Tensor{"roi", graph::DType::kFloat32, {0}, {}, {}});
    b.output(b.op("Resize", {x, roi, scales},
                  {{"mode", std::string("linear")}, {"coordinate_transformation_mode", coord}})[0]);
    b.output(b.op("Resize", {x, "", "", ints(b, "sizes", {1, 3, 11, 3})},
                  {{"mode", std::string("linear")}, {"coordinate_transformation_mode", coord}})[0]);
    expect_kernels(expect_native_and_exact(b.finish(), "resize " + coord), {"resize_bilinear"}, coord);
  }
}

TEST(OpLowering, BatchedMatMulOfRunTimeTensorsAndConstantGather) {
  GraphBuilder b("attention", 10);
  std::string q = b.input("q", {1, 3, 7, 5});
  std::string k = b.input("k", {1, 3, 5, 9});
  std::string v = b.input("v", {1, 1, 9, 4});  // broadcast over the heads
  std::string s = b.softmax(b.op("MatMul", {q, k})[0], -1);
  b.output(b.op("MatMul", {s, v})[0]);
  b.output(b.op("MatMul", {q, b.random_constant("w", {3, 5, 2}, 1.0f)})[0]);  // batched constant weight
  b.output(b.op("Gather", {q, b.constant(Tensor::ints("i", {-2}, {}))}, {{"axis", int64_t{2}}})[0]);
  expect_kernels(expect_native_and_exact(b.finish(), "attention"), {"gather_slice_copy"}, "attention");
}

TEST(OpLowering, LayerNormalizationOpset17) {
  GraphBuilder b("ln", 9);
  b.graph().opset = 17;
  std::string x = b.input("x", {1, 7, 13, 5});
  std::string s = b.random_constant("s", {5}, 1.0f), bias = b.random_constant("b", {5}, 1.0f);
  b.output(b.op("LayerNormalization", {x, s, bias}, {{"axis", int64_t{-1}}, {"epsilon", 1e-6f}})[0]);
  std::string s2 = b.random_constant("s2", {13, 5}, 1.0f);
  b.output(b.op("LayerNormalization", {x, s2}, {{"axis", int64_t{2}}})[0]);
  expect_kernels(expect_native_and_exact(b.finish(), "layer_norm"), {"layer_norm"}, "layer_norm");
}

// The ops that ran on the reference path before: GlobalMaxPool, Where (constant mask), Expand, Mod,
// Max, Min, and GELU's tanh form (fused from the nine nodes torch exports), on odd shapes.
TEST(OpLowering, GlobalMaxPoolWhereExpandModMaxMinAndTanhGelu) {
  GraphBuilder b("rest", 7);
  std::string x = b.input("x", {1, 7, 13, 5});
  b.output(b.op("GlobalMaxPool", {x})[0]);
  Tensor mask{"mask", graph::DType::kBool, {13, 5}, {}, {}};
  for (int64_t i = 0; i < 65; ++i) mask.i64.push_back(i % 3 == 0);
  std::string m = b.constant(mask);
  std::string c = b.random_constant("c", {7, 1, 1}, 1.0f);
  b.output(b.op("Where", {m, x, c})[0]);
  b.output(b.op("Expand", {c, ints(b, "shape", {2, 7, 3, 5})})[0]);
  std::string d = b.random_constant("d", {5}, 1.0f);
  b.output(b.op("Mod", {x, d}, {{"fmod", int64_t{1}}})[0]);
  b.output(b.op("Max", {x, c})[0]);
  b.output(b.op("Min", {c, x})[0]);
  auto scalar = [&](const std::string& n, float v) {
    return b.constant(Tensor{n, graph::DType::kFloat32, {}, {v}, {}});
  };
  std::string cube = b.op("Mul", {x, b.op("Mul", {x, x})[0]})[0];
  std::string inner = b.op("Mul", {scalar("beta", 0.7978845834732056f),
                                   b.op("Add", {x, b.op("Mul", {scalar("kappa", 0.044715f), cube})[0]})[0]})[0];
  std::string t = b.op("Add", {scalar("one", 1.0f), b.op("Tanh", {inner})[0]})[0];
  b.output(b.op("Mul", {scalar("half", 0.5f), b.op("Mul", {x, t})[0]})[0]);
  expect_kernels(expect_native_and_exact(b.finish(), "rest"),
                 {"global_max_pool", "where_select", "expand_copy", "fmod_broadcast", "max_broadcast", "min_broadcast",
                  "unary_gelu_tanh"},
                 "rest");
}

// The registry, the reference executor and lowering name the same ops: every registry op has a
// reference implementation, and a native lowering unless the registry says why not.
TEST(OpLowering, RegistryReferenceAndLoweringAgree) {
  std::vector<std::string> all, native;
  for (const auto& s : graph::op_registry()) {
    all.push_back(s.type);
    if (s.reference_only.empty()) native.push_back(s.type);
  }
  EXPECT_EQ(reference_op_types(), all);
  EXPECT_EQ(native_op_types(), native);
}

}  // namespace
}  // namespace hilsim::runtime
