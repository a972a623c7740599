#include "hilsim/graph/shape_inference.h"

#include <gtest/gtest.h>

#include "hilsim/graph/builder.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {
namespace {

TEST(ShapeInference, ConvPoolResizeConcat) {
  GraphBuilder b("s");
  std::string x = b.input("x", {1, 3, 13, 13});
  std::string c = b.conv(x, 8, 3, 2);  // (13 + 2 - 3) / 2 + 1 = 7
  EXPECT_EQ(b.shape(c), (Shape{1, 8, 7, 7}));
  std::string d = b.conv(c, 8, 3, 1, 8);  // depthwise keeps the shape
  EXPECT_EQ(b.shape(d), (Shape{1, 8, 7, 7}));
  std::string p = b.maxpool(d, 3, 2, 0);
  EXPECT_EQ(b.shape(p), (Shape{1, 8, 3, 3}));
  std::string r = b.resize_nearest(p, 2.0f);
  EXPECT_EQ(b.shape(r), (Shape{1, 8, 6, 6}));
  std::string k = b.concat({r, r});
  EXPECT_EQ(b.shape(k), (Shape{1, 16, 6, 6}));
  auto parts = b.split(k, {5, 11});
  EXPECT_EQ(b.shape(parts[1]), (Shape{1, 11, 6, 6}));
  std::string fc = b.gemm(b.flatten(b.global_avgpool(k)), 10);
  EXPECT_EQ(b.shape(fc), (Shape{1, 10}));
}

TEST(ShapeInference, CeilModePoolAndBroadcast) {
  GraphBuilder b("s");
  std::string x = b.input("x", {1, 2, 6, 6});
  std::string p = b.op("MaxPool", {x}, {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}},
                                      {"ceil_mode", int64_t{1}}})[0];
  EXPECT_EQ(b.shape(p), (Shape{1, 2, 3, 3}));
  std::string s = b.random_constant("s", {2, 1, 1}, 1.0f);
  EXPECT_EQ(b.shape(b.add(x, s)), (Shape{1, 2, 6, 6}));
}

TEST(ShapeInference, ContradictionsNameTheNode) {
  GraphBuilder b("s");
  std::string x = b.input("x", {1, 3, 8, 8});
  std::string w = b.random_constant("w", {4, 5, 3, 3}, 1.0f);
  try {
    b.op("Conv", {x, w}, {}, 1, "badconv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("badconv"), std::string::npos) << e.what();
  }
  std::string y = b.input("y", {1, 4, 7, 8});
  EXPECT_THROW(b.add(x, y), Error);
  EXPECT_THROW(b.op("NoSuchOp", {x}), Error);
}

TEST(ShapeInference, FoldConstantsEvaluatesIntChains) {
  GraphBuilder b("f");
  std::string x = b.input("x", {2, 6});
  std::string s = b.op("Shape", {x})[0];
  std::string two = b.constant(Tensor::ints("two", {2}, {1}));
  std::string half = b.op("Div", {s, two})[0];
  b.output(b.op("Reshape", {x, b.op("Mul", {half, two})[0]})[0]);
  Graph g = b.finish();
  EXPECT_EQ(fold_constants(g), 3);
  ASSERT_EQ(g.num_ops(), 1u);
  const Tensor* shape = g.constant(g.op(0).inputs[1]);
  ASSERT_NE(shape, nullptr);
  EXPECT_EQ(shape->i64, (std::vector<int64_t>{2, 6}));
}

// The shifted-window mask chain of torchvision's Swin export: ScatterND writes slices into zeros,
// Mod and Not on index tensors; all of it folds, so none of it reaches the executor.
TEST(ShapeInference, FoldsScatterNdModAndNot) {
  GraphBuilder b("mask");
  std::string x = b.input("x", {2, 3});
  std::string zeros = b.constant(Tensor::ints("zeros", {0, 0, 0, 0, 0, 0}, {2, 3}));
  std::string idx = b.constant(Tensor::ints("idx", {1, 0, 0, -1}, {2, 2}));  // (1, 0) and (0, -1) = (0, 2)
  std::string upd = b.constant(Tensor::ints("upd", {7, 9}, {2}));
  std::string scattered = b.op("ScatterND", {zeros, idx, upd})[0];
  std::string m = b.op("Mod", {b.constant(Tensor::ints("num", {-7, 7, 5}, {3})), b.constant(Tensor::ints("div", {3}, {1}))})[0];
  std::string n = b.op("Not", {b.op("Equal", {scattered, b.constant(Tensor::ints("z", {0}, {1}))})[0]})[0];
  b.output(b.op("Add", {x, b.op("Cast", {n}, {{"to", int64_t{1}}})[0]})[0]);
  b.output(b.op("Add", {x, b.op("Cast", {m}, {{"to", int64_t{1}}})[0]})[0]);
  Graph g = b.finish();
  fold_constants(g);
  ASSERT_EQ(g.num_ops(), 2u);  // the two Adds of the run-time input
  const Tensor* mask = g.constant(g.op(0).inputs[1]);
  const Tensor* mod = g.constant(g.op(1).inputs[1]);
  ASSERT_NE(mask, nullptr);
  ASSERT_NE(mod, nullptr);
  EXPECT_EQ(mask->f32, (std::vector<float>{0, 0, 1, 1, 0, 0}));  // 9 written at (0, 2), 7 at (1, 0)
  EXPECT_EQ(mod->f32, (std::vector<float>{2, 1, 2}));  // fmod = 0: the divisor's sign, as Python's %
}

}  // namespace
}  // namespace hilsim::graph
