#include "hilsim/codegen/library_generator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "hilsim/codegen/shipped_kernels.h"
#include "hilsim/graph/builder.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/util/error.h"
#include "util/expect_error.h"

namespace hilsim::codegen {
namespace {

graph::Graph canonical_zoo(const std::string& name) {
  graph::ZooOptions o;
  o.resolution = 32;
  o.width = 0.25;
  graph::Graph g = graph::make_zoo_model(name, o);
  graph::passes::canonicalize(g);
  return g;
}

// A form the runtime runs on the reference (Pow by a run-time exponent) is refused, naming the op;
// the same graph with the common form (softmax) is generated.
TEST(LibraryGenerator, UnsupportedOpsAreNamed) {
  for (const bool pow : {true, false}) {
    graph::GraphBuilder b("softmax_net");
    std::string x = b.input("x", {1, 8, 4, 4});
    x = b.conv(x, 8, 3);
    x = b.global_avgpool(x);
    x = b.flatten(x);
    x = pow ? b.op("Pow", {x, x}, {}, 1, "pow_xx")[0] : b.softmax(x);
    b.output(x);
    graph::Graph g = b.finish();
    graph::passes::canonicalize(g);
    if (pow) {
      expect_error([&] { generate_library(g, {}, {}); }, "op 'pow_xx' (Pow)");
    } else {
      const GeneratedLibrary lib = generate_library(g, {}, {});
      EXPECT_EQ(lib.ops.back().kernel, "softmax_last_axis");
    }
  }
}

// YOLOv5's channel concats copy nothing: their producers write into the output's slices (the
// numerics of it are checked by the emitter's tests). The per-op entry points list every op in order.
TEST(LibraryGenerator, ConcatInputsAreWrittenInPlace) {
  const graph::Graph g = canonical_zoo("yolov5s_like");
  const GeneratedLibrary lib = generate_library(g, {}, {});
  int concats = 0, in_place = 0;
  for (const auto& op : lib.ops)
    if (op.type == "Concat") ++concats, in_place += op.kernel == "concat_in_place";
  EXPECT_GT(concats, 0);
  EXPECT_EQ(in_place, concats);
  const std::string& c = lib.files.at("model.cc");
  EXPECT_NE(c.find("HILSIM_API int hilsim_model_ops(void) { return " + std::to_string(g.num_ops()) + "; }"),
            std::string::npos);
  EXPECT_NE(c.find("{op0, \"" + g.op(g.topological_order().front()).name + "\"}"), std::string::npos);
}

// One function per op, the sizes in model.h, the conv shapes as constants in the calls.
TEST(LibraryGenerator, EveryOpGetsAFunctionAndTheSizesAreConstants) {
  const graph::Graph g = canonical_zoo("mobilenetv2_like");
  const GeneratedLibrary lib = generate_library(g, {}, {});
  EXPECT_EQ(lib.ops.size(), g.num_ops());
  EXPECT_EQ(lib.input_elems, 3 * 32 * 32);
  const std::string& h = lib.files.at("model.h");
  EXPECT_NE(h.find("#define HILSIM_MODEL_WORKSPACE_BYTES " + std::to_string(lib.workspace_bytes)), std::string::npos);
  EXPECT_NE(h.find("int hilsim_model_run(const float* input, float* output, void* workspace);"), std::string::npos);
  const std::string& c = lib.files.at("model.cc");
  // By default every conv runs the runtime's prepared kernel, the depthwise ones its depthwise kernel.
  EXPECT_NE(c.find("hsk_rt::prepare_depthwise_conv("), std::string::npos);
  EXPECT_NE(c.find("hsk_rt::prepare_dense_conv("), std::string::npos);
  EXPECT_NE(c.find("hsk_rt::Act::kClip"), std::string::npos) << "ReLU6 stays fused";
  for (const auto& op : lib.ops) {
    if (op.conv) {
      EXPECT_TRUE(op.variant.runtime()) << op.op;
    }
  }
  // The only hilsim headers it includes are the kernel headers shipped beside it.
  std::set<std::string> shipped;
  for (const auto& f : shipped_kernel_files()) shipped.insert(f.path);
  for (size_t at = c.find("#include \"hilsim/"); at != std::string::npos; at = c.find("#include \"hilsim/", at + 1)) {
    const size_t b = at + 10, e = c.find('"', b);
    EXPECT_EQ(shipped.count("include/" + c.substr(b, e - b)), 1u) << c.substr(b, e - b);
  }
  EXPECT_TRUE(shipped.count("src/kernels/depthwise_conv.cc"));
  // A generated variant on a depthwise conv runs as one-filter rows.
  std::string dw;
  for (const auto& op : lib.ops)
    if (op.kernel == "runtime depthwise_conv") { dw = op.op; break; }
  ASSERT_FALSE(dw.empty());
  const GeneratedLibrary gen = generate_library(g, {}, {{dw, ConvVariant{8, 2, 8}}});
  EXPECT_NE(gen.files.at("model.cc").find("hsk::conv_rows<1, "), std::string::npos);
  EXPECT_GT(lib.arena_bytes, 0);
  EXPECT_GE(lib.workspace_bytes, lib.arena_bytes);
}

// A chosen variant is what the call instantiates; the tuning harness shares one copy of each weight
// layout among a conv's variants.
TEST(LibraryGenerator, VariantsAreTemplateArgumentsAndShareTheirWeights) {
  const graph::Graph g = canonical_zoo("resnet18_like");
  const GeneratedLibrary plain = generate_library(g, {}, {});
  std::string conv;
  for (const auto& op : plain.ops)
    if (op.conv) { conv = op.op; break; }
  ASSERT_FALSE(conv.empty());
  const GeneratedLibrary chosen = generate_library(g, {}, {{conv, ConvVariant{4, 3, 16}}});
  bool found = false;
  for (const auto& op : chosen.ops)
    if (op.op == conv) {
      found = true;
      EXPECT_EQ(op.variant.str(), "fb4_nv3_b16");
    }
  EXPECT_TRUE(found);
  const GeneratedLibrary harness = generate_library(g, {}, {}, true);
  EXPECT_NE(harness.files.at("model.cc").find("hilsim_model_tune_run"), std::string::npos);
  // The runtime kernel's weights and two row heights per dense conv, not one copy per variant.
  std::map<std::string, ConvVariant> fb8, fb4;
  for (const auto& op : plain.ops)
    if (op.conv) fb8[op.op] = ConvVariant{8, 2, 8}, fb4[op.op] = ConvVariant{4, 3, 16};
  EXPECT_LE(harness.weights.size(), plain.weights.size() + generate_library(g, {}, fb8).weights.size() +
                                        generate_library(g, {}, fb4).weights.size());
  EXPECT_TRUE(conv_variants(true, 0).front().runtime());
  EXPECT_TRUE(conv_variants(false, 8).front().runtime());
  const auto dense = conv_variants(true, 0);
  const auto sparse = conv_variants(false, 8);
  std::set<std::string> names;
  for (const auto& v : dense) names.insert(v.str());
  EXPECT_EQ(names.size(), dense.size());
  for (const auto& v : sparse) EXPECT_TRUE(v.fb == 8 || v.runtime()) << v.str();
}

}  // namespace
}  // namespace hilsim::codegen
