#include "hilsim/graph/onnx_io.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/util/error.h"
#include "util/expect_error.h"

namespace hilsim::graph {
namespace {

onnx::ModelProto tiny_model(int64_t opset, const std::string& op_type = "Relu") {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  tt->mutable_shape()->add_dim()->set_dim_value(4);
  auto* n = g->add_node();
  n->set_op_type(op_type);
  n->set_name("act");
  n->add_input("x");
  n->add_output("y");
  auto* out = g->add_output();
  out->set_name("y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m;
}

std::string bytes_of(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

TEST(OnnxImport, DynamicBatchDefaultsToOne) {
  Graph g = import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx");
  EXPECT_EQ(g.shape("y"), (Shape{1, 4}));
}

TEST(OnnxImport, InputShapeFlagFixesDims) {
  ImportOptions o;
  o.input_shapes = parse_input_shapes("x:3x4");
  Graph g = import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o);
  EXPECT_EQ(g.shape("y"), (Shape{3, 4}));
  o.input_shapes = parse_input_shapes("nope:3x4");
  expect_error([&] { import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o); }, "model's inputs are: x");
  o.input_shapes = parse_input_shapes("3x4x5");
  expect_error([&] { import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o); }, "rank");
}

TEST(OnnxImport, BadInputsNameFileAndNode) {
  expect_error([] { import_onnx_bytes("", "empty.onnx"); }, "empty.onnx");
  expect_error([] { import_onnx_bytes("this is not a protobuf \xff\xff\xff", "junk.onnx"); }, "junk.onnx");
  expect_error([] { import_onnx_bytes(bytes_of(tiny_model(9)), "old.onnx"); }, "opset 9");
  expect_error([] { import_onnx_bytes(bytes_of(tiny_model(13, "FancyOp")), "f.onnx"); }, "node 'act'");
  expect_error([] { import_onnx("/nonexistent/model.onnx"); }, "cannot open");
  expect_error([] { parse_input_shapes("1x-3"); }, "positive integer");
  expect_error([] { parse_input_shapes("1xa"); }, "positive integer");
}

TEST(OnnxImport, DynamicBatchTakenAsOneIsNoted) {
  std::vector<std::string> notes;
  ImportOptions o;
  o.notes = &notes;
  import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("'x'"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("taken as 1"), std::string::npos) << notes[0];
  notes.clear();
  o.input_shapes = parse_input_shapes("x:2x4");  // the user fixed it: nothing assumed
  import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o);
  EXPECT_TRUE(notes.empty());
}

TEST(OnnxImport, NegativeDimIsCalledNegativeNotDynamic) {
  onnx::ModelProto m = tiny_model(13);
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-4);
  expect_error([&] { import_onnx_bytes(bytes_of(m), "neg.onnx"); }, "negative dimension");
}

TEST(OnnxImport, DirectoryIsNamedAsOne) {
  expect_error([] { import_onnx(HILSIM_SOURCE_DIR); }, "is a directory");
}

TEST(OnnxImport, InputShapeWithOtherChannelsIsRefused) {
  ImportOptions o;
  o.input_shapes = parse_input_shapes("x:1x5");  // the model's dim 1 is 4
  expect_error([&] { import_onnx_bytes(bytes_of(tiny_model(13)), "tiny.onnx", o); }, "--input-shape");
}

TEST(ModelSource, ZooRefusesABatchOrChannelsItCannotBuild) {
  // Answered silently for batch 1 / 3 channels before.
  ImportOptions o;
  o.input_shapes = parse_input_shapes("4x3x112x112");
  expect_error([&] { load_model("zoo:resnet18_like@112", o); }, "--input-shape 4x3x112x112");
  o.input_shapes = parse_input_shapes("1x1x224x224");
  expect_error([&] { load_model("zoo:resnet18_like", o); }, "--input-shape 1x1x224x224");
  o.input_shapes = parse_input_shapes("1x3x96x96");
  EXPECT_EQ(load_model("zoo:resnet18_like", o).shape(load_model("zoo:resnet18_like", o).inputs()[0]), (Shape{1, 3, 96, 96}));
}

TEST(OnnxImport, AllowUnknownKeepsTheOpAsMemoryBound) {
  ImportOptions o;
  o.allow_unknown = true;
  Graph g = import_onnx_bytes(bytes_of(tiny_model(13, "FancyOp")), "f.onnx", o);
  ASSERT_EQ(g.num_ops(), 1u);
  EXPECT_TRUE(g.op(0).unknown);
  EXPECT_EQ(g.shape("y"), (Shape{1, 4}));
}

TEST(OnnxImport, DanglingInputIsReported) {
  onnx::ModelProto m = tiny_model(13);
  m.mutable_graph()->mutable_node(0)->set_input(0, "ghost");
  expect_error([&] { import_onnx_bytes(bytes_of(m), "d.onnx"); }, "d.onnx");
}

TEST(OnnxImport, TruncatedWeightsAreReported) {
  GraphBuilder b("t");
  std::string x = b.input("x", {1, 3, 8, 8});
  b.output(b.conv(x, 4, 3));
  std::string bytes = export_onnx_bytes(b.finish());
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(bytes));
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.dims_size() == 4) t.set_raw_data(t.raw_data().substr(0, 10));
  expect_error([&] { import_onnx_bytes(bytes_of(m), "w.onnx"); }, "w.onnx");
}

TEST(OnnxImport, TorchShapeChainIsFolded) {
  // x -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape(x): torch's flatten.
  GraphBuilder b("chain");
  std::string x = b.input("x", {2, 3, 4, 5});
  std::string s = b.op("Shape", {x})[0];
  std::string i0 = b.constant(Tensor::ints("idx0", {0}, {}));
  std::string g0 = b.op("Gather", {s, i0}, {{"axis", int64_t{0}}})[0];
  std::string ax = b.constant(Tensor::ints("ax0", {0}, {1}));
  std::string u = b.op("Unsqueeze", {g0, ax})[0];
  std::string m1 = b.constant(Tensor::ints("minus1", {-1}, {1}));
  std::string c = b.op("Concat", {u, m1}, {{"axis", int64_t{0}}})[0];
  b.output(b.op("Reshape", {x, c})[0]);
  Graph built = b.finish();
  Graph g = import_onnx_bytes(export_onnx_bytes(built), "chain.onnx");
  ASSERT_EQ(g.num_ops(), 1u);
  EXPECT_EQ(g.op(0).type, "Reshape");
  EXPECT_EQ(g.shape(g.outputs()[0]), (Shape{2, 60}));
}

TEST(OnnxExport, ZooModelsRoundTripThroughTheChecker) {
  for (const auto& name : zoo_names()) {
    ZooOptions o;
    o.resolution = 64;
    if (name == "resnet50_like") o.width = 0.25;  // its 25 M weights only slow the checker down
    Graph g = make_zoo_model(name, o);
    std::string bytes = export_onnx_bytes(g);
    Graph back = import_onnx_bytes(bytes, name);
    EXPECT_EQ(back.num_ops(), g.num_ops()) << name;
    EXPECT_EQ(back.constants().size(), g.constants().size()) << name;
    for (const auto& out : g.outputs()) EXPECT_EQ(back.shape(out), g.shape(out)) << name;
  }
}

TEST(OnnxExport, FusedActivationsAreWrittenAsNodes) {
  GraphBuilder b("f");
  std::string x = b.input("x", {1, 3, 8, 8});
  std::string c = b.conv(x, 4, 3);
  b.output(c);
  Graph g = b.finish();
  g.mutable_op(0).fused.kind = Activation::kSiLU;
  Graph back = import_onnx_bytes(export_onnx_bytes(g), "f.onnx");
  EXPECT_EQ(back.num_ops(), 3u);  // Conv, Sigmoid, Mul
}

// Gelu (ONNX opset 20, past the opsets written) goes out as the chain PyTorch exports, which the
// checker accepts, and comes back as one Gelu of the same name after the canonical passes.
TEST(OnnxExport, GeluIsWrittenAsItsChain) {
  for (const std::string approximate : {"none", "tanh"}) {
    SCOPED_TRACE(approximate);
    GraphBuilder b("gelu");
    b.graph().opset = 17;
    std::string x = b.conv(b.input("x", {1, 3, 8, 8}), 4, 3);
    b.output(b.op("Gelu", {x}, {{"approximate", approximate}}, 1, "act")[0]);
    const Graph g = b.finish();
    Graph back = import_onnx_bytes(export_onnx_bytes(g), "gelu.onnx");
    int gelus = 0, erfs = 0, tanhs = 0;
    for (OpId i = 0; i < back.num_ops(); ++i) {
      gelus += back.op(i).type == "Gelu";
      erfs += back.op(i).type == "Erf";
      tanhs += back.op(i).type == "Tanh";
    }
    EXPECT_EQ(gelus, 0);
    EXPECT_EQ(approximate == "none" ? erfs : tanhs, 1);
    EXPECT_EQ(back.op(back.num_ops() - 1).name, "act");
  }
}

}  // namespace
}  // namespace hilsim::graph
