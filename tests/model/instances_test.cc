#include "hilsim/model/instances.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/zoo.h"

namespace hilsim::model {
namespace {

std::map<std::string, int> group_counts(const std::string& name, int64_t resolution) {
  graph::ZooOptions o;
  o.resolution = resolution;
  graph::Graph g = graph::make_zoo_model(name, o);
  graph::passes::canonicalize(g);
  std::map<std::string, int> n;
  for (graph::OpId id : g.topological_order()) ++n[op_group(g, id, op_instance(g, id, {}, 1, false).k)];
  return n;
}

TEST(OpGroup, NamesTheLayerKindsRealNetworksHave) {
  // RegNetY: grouped 3x3 convs, squeeze-excite 1x1 convs on pooled 1x1 maps, a global pool and
  // 4096-wide classifier layers whose weights (64 MiB) lie far beyond L2.
  auto n = group_counts("regnety_like", 64);
  EXPECT_EQ(n["grouped conv"], 14);  // one per block
  EXPECT_EQ(n["1x1 on 1x1 map"], 28);  // two SE convs per block
  EXPECT_EQ(n["far gemm"], 3);
  EXPECT_EQ(n["global pool"], 15);  // one per SE block and the classifier's
  EXPECT_EQ(n["far elementwise"], 0);  // 64x64 input: every tensor fits L2
  // ResNet-18 at 224: the first stage's residual Adds read and write 2.4 MiB, beyond L2; its convs
  // are dense, its 512x1000 classifier (2 MiB of weights) beyond a core's L2 share.
  auto r = group_counts("resnet18_like", 224);
  EXPECT_EQ(r["grouped conv"], 0);
  EXPECT_GE(r["far elementwise"], 2);
  EXPECT_EQ(r["far gemm"], 1);
  EXPECT_GT(r[""], 20);
}


// A detector head's concat along the last axis: one run per input per anchor-pixel, where a channel
// concat copies one run per input. Pools count the inner loops of their separable passes, a resize its
// output rows, a global pool its planes.
TEST(OpInstance, ConcatRunsAndPoolAndResizeLoopsFollowTheShape) {
  graph::GraphBuilder b("head");
  std::vector<std::string> xs;
  for (int64_t w : {2, 2, 81}) xs.push_back(b.relu(b.input("p" + std::to_string(xs.size()), {1, 3, 40, 40, w})));
  b.output(b.concat(xs, 4));
  const std::string x = b.relu(b.input("x", {1, 256, 7, 7}));
  b.output(b.maxpool(x, 5, 1, 2));
  b.output(b.resize_nearest(x, 2.0f));
  b.output(b.global_avgpool(x));
  std::vector<std::string> ys = {x, b.relu(b.input("y", {1, 64, 7, 7}))};
  b.output(b.concat(ys));
  graph::Graph g = b.finish();
  std::map<std::string, KernelInstance> by_type;
  std::vector<KernelInstance> concats;
  for (graph::OpId id : g.topological_order()) {
    const KernelInstance k = op_instance(g, id, {}, 1, true).k;
    if (g.op(id).type == "Concat") concats.push_back(k);
    else by_type[g.op(id).type] = k;
  }
  ASSERT_EQ(concats.size(), 2u);
  const KernelInstance& head = concats[0].inputs == 3 ? concats[0] : concats[1];
  const KernelInstance& channel = concats[0].inputs == 3 ? concats[1] : concats[0];
  EXPECT_EQ(head.extra_runs, 3 * (3 * 40 * 40 - 1));
  EXPECT_EQ(channel.extra_runs, 0);
  // 5x5 stride 1 pad 2 on 7x7: 7 rows copied in and 7 out a plane; 5 + 5 tap loops a stack of 32
  // padded 11x11 planes (kernels::pool2d_work, the kernel's own count).
  EXPECT_EQ(by_type["MaxPool"].rows, 256 * (7 + 7) + 256 / 32 * (5 + 5));
  EXPECT_EQ(by_type["Resize"].rows, 256 * 14);
  EXPECT_EQ(by_type["GlobalAveragePool"].rows, 256);
  EXPECT_EQ(features_of(by_type["MaxPool"]).at("rows"), 256.0 * 14 + 80);
}

// A graph's concat counts the tensors it joins (the per-input term of its class); the same bytes in
// two tensors count two.
// Element-wise ops that evaluate an exp/erf/tanh per element carry those elements (act_bytes) as a
// term of their own; an add or a ReLU of the same tensor does not.
// The instance of a lone `type` op (an Add of x and x) behind a ReLU of an input of `shape`.
KernelInstance one_op_instance(const std::string& type, const std::vector<int64_t>& shape) {
  graph::GraphBuilder b("one_op");
  const std::string x = b.relu(b.input("x", shape));
  const std::string y = type == "Add" ? b.add(x, x) : b.op(type, {x})[0];
  b.output(y);
  graph::Graph g = b.finish();
  return op_instance(g, g.topological_order().back(), {}, 1, true).k;
}

// YOLOv5's head: [1, 3, 85, 40, 40] transposed to [1, 3, 40, 40, 85] (the unit-stride dim moves: tiles
// of 32 x 32), then split along the last axis into runs of 2, 2 and 81 floats, one loop per run; a
// Flatten is one memcpy. The counts are the kernel's own (kernels::strided_copy_loops).
TEST(OpInstance, StridedCopiesCountTheLoopsTheKernelStarts) {
  graph::GraphBuilder b("head");
  const std::string x = b.relu(b.input("x", {1, 3, 85, 40, 40}));
  const std::string t = b.op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 1, 3, 4, 2}}})[0];
  const auto parts = b.op("Split", {t}, {{"axis", int64_t{4}}, {"split", std::vector<int64_t>{2, 2, 81}}}, 3);
  for (const auto& p : parts) b.output(p);
  b.output(b.flatten(b.relu(b.input("y", {1, 64, 7, 7}))));
  graph::Graph g = b.finish();
  std::map<std::string, KernelInstance> by_type;
  for (graph::OpId id : g.topological_order()) by_type[g.op(id).type] = op_instance(g, id, {}, 1, true).k;
  ASSERT_EQ(by_type["Transpose"].klass, "copy");
  // 3 anchors x 1600 pixels of 85: per anchor, ceil(85 / 32) x ceil(1600 / 32) tiles.
  EXPECT_EQ(by_type["Transpose"].rows, 3 * 3 * 50);
  EXPECT_EQ(by_type["Split"].rows, 3 * 3 * 1600);  // a run per output per anchor-pixel
  EXPECT_EQ(features_of(by_type["Split"]).at("rows"), 3.0 * 3 * 1600);
  EXPECT_EQ(by_type["Flatten"].klass, "copy");
  EXPECT_EQ(by_type["Flatten"].rows, 0);
}

TEST(OpInstance, TranscendentalElementwiseOpsCarryTheirMathElements) {
  auto last_of = [](const std::string& type) { return one_op_instance(type, {1, 16, 9, 9}); };
  for (const char* t : {"Gelu", "Erf", "Tanh", "Exp", "Sigmoid", "Softmax"}) {
    const KernelInstance k = last_of(t);
    EXPECT_EQ(k.klass, "elementwise") << t;
    EXPECT_EQ(k.act_bytes, 16 * 9 * 9 * 4) << t;
    EXPECT_EQ(features_of(k).at("act_bytes"), 16.0 * 9 * 9 * 4) << t;
  }
  for (const char* t : {"Add", "Relu", "Neg"}) EXPECT_EQ(last_of(t).act_bytes, 0) << t;
}

TEST(OpInstance, MultiPassKernelsPriceEverySweepInCacheOnly) {
  // A tensor far beyond kNearActBytes, so the far term is in play.
  const int64_t bytes = 1 * 256 * 64 * 64 * 4;
  auto instance = [](const std::string& type) { return one_op_instance(type, {1, 256, 64, 64}); };
  const KernelInstance soft = instance("Softmax"), add = instance("Add"), relu = instance("Relu");
  // Softmax: max and exp read the input (2), exp writes the output, the scale rereads and rewrites it (3).
  EXPECT_EQ(soft.resweep_bytes, bytes + 2 * bytes);
  EXPECT_EQ(features_of(soft).at("bytes"), 2.0 * bytes + 3.0 * bytes);
  EXPECT_EQ(features_of(soft).at("far_bytes"), 2.0 * bytes);  // the first read and write only
  EXPECT_EQ(features_of(soft).at("elements"), bytes / 4.0);
  EXPECT_EQ(relu.resweep_bytes, 0);
  EXPECT_EQ(add.resweep_bytes, 0);
  EXPECT_EQ(features_of(relu).at("bytes"), 2.0 * bytes);
}

TEST(OpInstance, ConcatCountsItsInputs) {
  auto concat_of = [](int n, int64_t ch) {
    graph::GraphBuilder b("concat");
    std::vector<std::string> xs;
    for (int i = 0; i < n; ++i) xs.push_back(b.relu(b.input("x" + std::to_string(i), {1, ch, 14, 14})));
    b.output(b.concat(xs));
    graph::Graph g = b.finish();
    return op_instance(g, g.topological_order().back(), {}, 1, true).k;
  };
  const KernelInstance many = concat_of(48, 32), two = concat_of(2, 24 * 32);
  EXPECT_EQ(many.klass, "concat");
  EXPECT_EQ(many.inputs, 48);
  EXPECT_EQ(two.inputs, 2);
  EXPECT_EQ(many.in_bytes, two.in_bytes);
  EXPECT_EQ(features_of(many).at("inputs"), 48.0);
  graph::GraphBuilder b("groups");
  std::vector<std::string> xs;
  for (int i = 0; i < 6; ++i) xs.push_back(b.relu(b.input("x" + std::to_string(i), {1, 8, 7, 7})));
  b.output(b.batchnorm(b.concat(xs)));
  graph::Graph g = b.finish();
  std::map<std::string, int> n;
  for (graph::OpId id : g.topological_order()) ++n[op_group(g, id, op_instance(g, id, {}, 1, true).k)];
  EXPECT_EQ(n["many-input concat"], 1);
  EXPECT_EQ(n["standalone batchnorm"], 1);
}

// The OpenCL depthwise kernel skips the padding's taps: on the gpu unit a 7x7 window over a 3x3 map
// prices the 3 x 3 taps per output that land on the map (each dimension: 3 outputs x 3 taps), not 49;
// the CPU kernel runs every tap of its padded plane and keeps the full count.
TEST(OpInstance, GpuDepthwiseMacsAreTheTapsInsideTheInput) {
  kernels::ConvShape s;
  s.c = s.f = s.groups = 64;
  s.h = s.w = 3;
  s.kh = s.kw = 7;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 3;
  const OpInstance gpu = conv_op_instance(s, true, graph::Activation::kNone, {}, 1, true, "dw", true);
  const OpInstance cpu = conv_op_instance(s, true, graph::Activation::kNone, {}, 1, true, "dw", false);
  EXPECT_EQ(gpu.k.executed_macs, 64 * 9 * 49);
  EXPECT_EQ(features_of(gpu.k, true).at("macs"), 64.0 * 9 * 9);
  EXPECT_EQ(features_of(cpu.k, false).at("macs"), 64.0 * 9 * 49);
  // Strided, on a larger map: output x of 4 (stride 2, pad 2 over 8) reads taps at 2x - 2 + t in [0, 8).
  s.h = s.w = 8;
  s.kh = s.kw = 5;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 2;
  s.stride_h = s.stride_w = 2;
  int64_t per_dim = 0;
  for (int64_t o = 0; o < s.out_w(); ++o)
    for (int64_t t = 0; t < 5; ++t) per_dim += (2 * o - 2 + t >= 0 && 2 * o - 2 + t < 8);
  EXPECT_EQ(per_dim, 17);  // 3 + 5 + 5 + 4
  EXPECT_EQ(features_of(conv_op_instance(s, true, graph::Activation::kNone, {}, 1, true, "dw", true).k, true).at("macs"),
            64.0 * per_dim * per_dim);
}

}  // namespace
}  // namespace hilsim::model
