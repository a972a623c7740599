#include "hilsim/runtime/reference_executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "hilsim/kernels/reference_ops.h"
#include "hilsim/util/error.h"

using namespace hilsim::graph;
using hilsim::runtime::run_reference;
using hilsim::runtime::TensorMap;

namespace {

Op make_op(const std::string& name, const std::string& type, std::vector<std::string> in,
           std::vector<std::string> out, std::map<std::string, AttrValue> attrs = {}) {
  Op op;
  op.name = name;
  op.type = type;
  op.inputs = std::move(in);
  op.outputs = std::move(out);
  op.attrs = std::move(attrs);
  return op;
}

Tensor floats(const std::string& name, Shape shape, std::vector<float> v) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.f32 = std::move(v);
  return t;
}

Tensor iota(const std::string& name, Shape shape, float start = 1.0f) {
  Tensor t = Tensor::zeros(name, std::move(shape));
  std::iota(t.f32.begin(), t.f32.end(), start);
  return t;
}

Tensor random(const std::string& name, Shape shape, uint32_t seed) {
  Tensor t = Tensor::zeros(name, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& v : t.f32) v = u(rng);
  return t;
}

// One-op graph: inputs named in `in` that are not constants become graph inputs; output "y".
TensorMap run1(Op op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& constants = {}, int64_t opset = 13) {
  Graph g;
  g.opset = opset;
  TensorMap feed;
  for (const auto& t : inputs) {
    g.add_input({t.name, t.dtype, t.shape, true});
    feed[t.name] = t;
  }
  for (const auto& t : constants) g.set_constant(t);
  for (const auto& o : op.outputs)
    if (!o.empty()) g.add_output(o);
  g.add_op(std::move(op));
  return run_reference(g, feed);
}

void expect_values(const Tensor& t, const Shape& shape, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(t.shape, shape);
  ASSERT_EQ(t.f32.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.f32[i], want[i], tol) << "at " << i;
}

// Scatter-form convolution: every input pixel pushes into the outputs it reaches. Written
// differently from the gather loop of the reference on purpose.
std::vector<float> scatter_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t groups, int64_t s,
                                int64_t d, int64_t p, int64_t oh, int64_t ow) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t F = w.shape[0], CG = w.shape[1], K = w.shape[2];
  std::vector<double> acc(static_cast<size_t>(N * F * oh * ow), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t iy = 0; iy < H; ++iy)
        for (int64_t ix = 0; ix < W; ++ix)
          for (int64_t f = (c / CG) * (F / groups); f < (c / CG + 1) * (F / groups); ++f)
            for (int64_t ky = 0; ky < K; ++ky)
              for (int64_t kx = 0; kx < K; ++kx) {
                const int64_t ny = iy + p - ky * d, nx = ix + p - kx * d;
                if (ny < 0 || nx < 0 || ny % s || nx % s) continue;
                const int64_t oy = ny / s, ox = nx / s;
                if (oy >= oh || ox >= ow) continue;
                acc[((n * F + f) * oh + oy) * ow + ox] +=
                    double(x.f32[((n * C + c) * H + iy) * W + ix]) * w.f32[((f * CG + c % CG) * K + ky) * K + kx];
              }
  std::vector<float> out(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) out[i] = float(acc[i] + b.f32[(i / (oh * ow)) % F]);
  return out;
}

}  // namespace

TEST(ReferenceConv, ThreeByThreePaddedByHand) {
  auto r = run1(make_op("conv", "Conv", {"x", "w", "b"}, {"y"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                {iota("x", {1, 1, 3, 3})},
                {Tensor{"w", DType::kFloat32, {1, 1, 3, 3}, std::vector<float>(9, 1.0f), {}}, floats("b", {1}, {0.5f})});
  // Sums of each 3x3 neighbourhood of 1..9, plus the bias.
  expect_values(r["y"], {1, 1, 3, 3}, {12.5f, 21.5f, 16.5f, 27.5f, 45.5f, 33.5f, 24.5f, 39.5f, 28.5f});
}

TEST(ReferenceConv, AsymmetricPadsAndSameUpperByHand) {
  // Centre-only kernel picks one input pixel; pads [t,l,b,r] = [1,0,1,0] pad rows only.
  std::vector<float> w(9, 0.0f);
  w[4] = 2.0f;
  auto r = run1(make_op("conv", "Conv", {"x", "w"}, {"y"}, {{"pads", std::vector<int64_t>{1, 0, 1, 0}}}),
                {iota("x", {1, 1, 2, 3})}, {floats("w", {1, 1, 3, 3}, w)});
  expect_values(r["y"], {1, 1, 2, 1}, {4.0f, 10.0f});
  auto s = run1(make_op("conv", "Conv", {"x", "w"}, {"y"}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}),
                {iota("x", {1, 1, 4, 4})}, {floats("w", {1, 1, 3, 3}, w)});
  // out = ceil(4/2) = 2; total pad 1 goes to the end, so windows are centred at 1 and 3.
  expect_values(s["y"], {1, 1, 2, 2}, {12.0f, 16.0f, 28.0f, 32.0f});
}

TEST(ReferenceConv, StridedDilatedGroupedMatchesScatterLoop) {
  struct Case {
    int64_t c, f, groups, k, s, d, p, h;
  };
  for (const Case& cs : {Case{4, 6, 2, 3, 2, 1, 1, 7}, Case{3, 3, 1, 3, 1, 2, 2, 6}, Case{6, 6, 6, 3, 2, 2, 1, 9},
                         Case{2, 4, 1, 1, 3, 1, 0, 5}}) {
    Tensor x = random("x", {2, cs.c, cs.h, cs.h - 1}, 1);
    Tensor w = random("w", {cs.f, cs.c / cs.groups, cs.k, cs.k}, 2);
    Tensor b = random("b", {cs.f}, 3);
    auto r = run1(make_op("conv", "Conv", {"x", "w", "b"}, {"y"},
                          {{"group", cs.groups},
                           {"strides", std::vector<int64_t>{cs.s, cs.s}},
                           {"dilations", std::vector<int64_t>{cs.d, cs.d}},
                           {"pads", std::vector<int64_t>{cs.p, cs.p, cs.p, cs.p}}}),
                  {x}, {w, b});
    const int64_t oh = (cs.h + 2 * cs.p - cs.d * (cs.k - 1) - 1) / cs.s + 1;
    const int64_t ow = (cs.h - 1 + 2 * cs.p - cs.d * (cs.k - 1) - 1) / cs.s + 1;
    expect_values(r["y"], {2, cs.f, oh, ow}, scatter_conv(x, w, b, cs.groups, cs.s, cs.d, cs.p, oh, ow), 1e-5f);
  }
}

TEST(ReferenceConv, OneDimensional) {
  auto r = run1(make_op("conv", "Conv", {"x", "w"}, {"y"}, {{"pads", std::vector<int64_t>{1, 1}}}),
                {iota("x", {1, 1, 4})}, {floats("w", {1, 1, 3}, {1.0f, 0.0f, -1.0f})});
  expect_values(r["y"], {1, 1, 4}, {-2.0f, -2.0f, -2.0f, 3.0f});
}

TEST(ReferenceConv, ChannelMismatchThrows) {
  EXPECT_THROW(run1(make_op("conv", "Conv", {"x", "w"}, {"y"}), {iota("x", {1, 3, 4, 4})}, {iota("w", {2, 2, 3, 3})}),
               hilsim::Error);
}

TEST(ReferenceGemm, TransBAlphaBetaBroadcastC) {
  auto r = run1(make_op("fc", "Gemm", {"a", "b", "c"}, {"y"}, {{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}}),
                {iota("a", {2, 3})}, {floats("b", {2, 3}, {1, 0, 1, 0, 1, 0}), floats("c", {2}, {1, 2})});
  // A B^T = [[4, 2], [10, 5]].
  expect_values(r["y"], {2, 2}, {8.5f, 5.0f, 20.5f, 11.0f});
}

TEST(ReferenceMatMul, BatchedBroadcast) {
  Tensor a = random("a", {2, 1, 2, 3}, 4), b = random("b", {3, 3, 2}, 5);
  auto r = run1(make_op("mm", "MatMul", {"a", "b"}, {"y"}), {a, b});
  ASSERT_EQ(r["y"].shape, (Shape{2, 3, 2, 2}));
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          double want = 0;
          for (int64_t k = 0; k < 3; ++k) want += double(a.f32[(p * 2 + i) * 3 + k]) * b.f32[(q * 3 + k) * 2 + j];
          EXPECT_NEAR(r["y"].f32[((p * 3 + q) * 2 + i) * 2 + j], want, 1e-6);
        }
  auto v = run1(make_op("mm", "MatMul", {"a", "b"}, {"y"}), {iota("a", {3}), iota("b", {3, 2})});
  expect_values(v["y"], {2}, {22.0f, 28.0f});
}

TEST(ReferenceBatchNorm, ByHand) {
  auto r = run1(make_op("bn", "BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, {{"epsilon", 0.0f}}),
                {iota("x", {1, 2, 1, 2})},
                {floats("s", {2}, {1, 2}), floats("b", {2}, {0, 1}), floats("m", {2}, {1, 3}), floats("v", {2}, {4, 0.25f})});
  expect_values(r["y"], {1, 2, 1, 2}, {0.0f, 0.5f, 1.0f, 5.0f});
}

TEST(ReferenceElementwise, AddBroadcastPerChannel) {
  auto r = run1(make_op("add", "Add", {"x", "c"}, {"y"}), {iota("x", {1, 2, 2, 2})}, {floats("c", {1, 2, 1, 1}, {10, 20})});
  expect_values(r["y"], {1, 2, 2, 2}, {11, 12, 13, 14, 25, 26, 27, 28});
  EXPECT_THROW(run1(make_op("add", "Add", {"x", "c"}, {"y"}), {iota("x", {2, 3})}, {iota("c", {4})}), hilsim::Error);
}

TEST(ReferenceElementwise, IntegerArithmeticStaysExact) {
  auto r = run1(make_op("div", "Div", {"a", "b"}, {"y"}), {},
                {Tensor::ints("a", {int64_t{1} << 60, 7}, {2}), Tensor::ints("b", {4}, {1})});
  ASSERT_EQ(r["y"].dtype, DType::kInt64);
  EXPECT_EQ(r["y"].i64, (std::vector<int64_t>{int64_t{1} << 58, 1}));
  auto e = run1(make_op("eq", "Equal", {"a", "b"}, {"y"}), {}, {Tensor::ints("a", {1, 2, 3}, {3}), Tensor::ints("b", {2}, {1})});
  EXPECT_EQ(e["y"].dtype, DType::kBool);
  EXPECT_EQ(e["y"].i64, (std::vector<int64_t>{0, 1, 0}));
}

TEST(ReferenceElementwise, UnaryOpsByHand) {
  Tensor x = floats("x", {5}, {-2.0f, -0.5f, 0.0f, 1.0f, 4.0f});
  auto val = [&](const std::string& type, std::map<std::string, AttrValue> attrs = {}) {
    return run1(make_op("u", type, {"x"}, {"y"}, std::move(attrs)), {x})["y"];
  };
  expect_values(val("Relu"), {5}, {0, 0, 0, 1, 4});
  expect_values(val("LeakyRelu", {{"alpha", 0.1f}}), {5}, {-0.2f, -0.05f, 0, 1, 4});
  expect_values(val("HardSigmoid"), {5}, {0.1f, 0.4f, 0.5f, 0.7f, 1.0f});
  expect_values(val("HardSwish"), {5}, {-2.0f / 6, -0.5f * (2.5f / 6), 0, 1.0f * (4.0f / 6), 4.0f});
  expect_values(val("Sigmoid"), {5}, {0.11920292f, 0.37754067f, 0.5f, 0.73105858f, 0.98201379f});
  expect_values(val("Neg"), {5}, {2, 0.5f, 0, -1, -4});
  // Clip-11 takes min/max as inputs, Clip-6 as attributes.
  auto c11 = run1(make_op("c", "Clip", {"x", "lo", "hi"}, {"y"}), {x}, {floats("lo", {}, {-1}), floats("hi", {}, {2})});
  expect_values(c11["y"], {5}, {-1, -0.5f, 0, 1, 2});
  auto c6 = run1(make_op("c", "Clip", {"x"}, {"y"}, {{"min", 0.0f}, {"max", 0.75f}}), {x}, {}, 6);
  expect_values(c6["y"], {5}, {0, 0, 0, 0.75f, 0.75f});
  auto only_max = run1(make_op("c", "Clip", {"x", "", "hi"}, {"y"}), {x}, {floats("hi", {}, {0.5f})});
  expect_values(only_max["y"], {5}, {-2, -0.5f, 0, 0.5f, 0.5f});
}

TEST(ReferenceShapeOps, ConcatSplitSliceRoundTrip) {
  Graph g;
  g.add_input({"x", DType::kFloat32, {2, 5}, true});
  g.set_constant(Tensor::ints("sizes", {2, 3}, {2}));
  g.add_op(make_op("split", "Split", {"x", "sizes"}, {"a", "b"}, {{"axis", int64_t{-1}}}));
  g.add_op(make_op("cat", "Concat", {"b", "a"}, {"ba"}, {{"axis", int64_t{1}}}));
  g.add_op(make_op("cat2", "Concat", {"a", "b"}, {"ab"}, {{"axis", int64_t{-1}}}));
  g.add_output("ab");
  g.add_output("ba");
  g.add_output("a");
  const Tensor x = iota("x", {2, 5});
  auto r = run_reference(g, {{"x", x}});
  expect_values(r["ab"], {2, 5}, x.f32);
  expect_values(r["ba"], {2, 5}, {3, 4, 5, 1, 2, 8, 9, 10, 6, 7});
  expect_values(r["a"], {2, 2}, {1, 2, 6, 7});

  // Equal split with no sizes.
  auto eq = run1(make_op("s", "Split", {"x"}, {"p", "q"}, {{"axis", int64_t{0}}}), {x});
  expect_values(eq["q"], {1, 5}, {6, 7, 8, 9, 10});
  // Split-11 sizes as attribute.
  auto s11 = run1(make_op("s", "Split", {"x"}, {"p", "q"}, {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{4, 1}}}), {x}, {}, 11);
  expect_values(s11["q"], {2, 1}, {5, 10});

  const int64_t big = std::numeric_limits<int64_t>::max();
  auto sl = run1(make_op("sl", "Slice", {"x", "st", "en", "ax", "sp"}, {"y"}), {x},
                 {Tensor::ints("st", {1}, {1}), Tensor::ints("en", {big}, {1}), Tensor::ints("ax", {-1}, {1}),
                  Tensor::ints("sp", {2}, {1})});
  expect_values(sl["y"], {2, 2}, {2, 4, 7, 9});
  auto rev = run1(make_op("sl", "Slice", {"x", "st", "en", "ax", "sp"}, {"y"}), {x},
                  {Tensor::ints("st", {-1}, {1}), Tensor::ints("en", {-big}, {1}), Tensor::ints("ax", {1}, {1}),
                   Tensor::ints("sp", {-2}, {1})});
  expect_values(rev["y"], {2, 3}, {5, 3, 1, 10, 8, 6});
  auto clamp = run1(make_op("sl", "Slice", {"x", "st", "en"}, {"y"}), {x},
                    {Tensor::ints("st", {-7, 3}, {2}), Tensor::ints("en", {1, 100}, {2})});
  expect_values(clamp["y"], {1, 2}, {4, 5});
}

TEST(ReferencePool, MaxPoolCeilMode) {
  auto r = run1(make_op("p", "MaxPool", {"x"}, {"y"},
                        {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}, {"ceil_mode", int64_t{1}}}),
                {iota("x", {1, 1, 3, 3})});
  expect_values(r["y"], {1, 1, 2, 2}, {5, 6, 8, 9});
  auto f = run1(make_op("p", "MaxPool", {"x"}, {"y"},
                        {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}}),
                {iota("x", {1, 1, 3, 3})});
  expect_values(f["y"], {1, 1, 1, 1}, {5});
}

TEST(ReferencePool, AveragePoolPadsAndCeil) {
  const Tensor x = iota("x", {1, 1, 3, 3});
  auto avg = [&](int64_t count_pad) {
    return run1(make_op("p", "AveragePool", {"x"}, {"y"},
                        {{"kernel_shape", std::vector<int64_t>{3, 3}},
                         {"pads", std::vector<int64_t>{1, 1, 1, 1}},
                         {"count_include_pad", count_pad}}),
                {x})["y"];
  };
  expect_values(avg(1), {1, 1, 3, 3}, {12 / 9.f, 21 / 9.f, 16 / 9.f, 27 / 9.f, 5, 33 / 9.f, 24 / 9.f, 39 / 9.f, 28 / 9.f});
  expect_values(avg(0), {1, 1, 3, 3}, {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7});
  // The ceil_mode overhang is never counted, even with count_include_pad.
  auto c = run1(make_op("p", "AveragePool", {"x"}, {"y"},
                        {{"kernel_shape", std::vector<int64_t>{2, 2}},
                         {"strides", std::vector<int64_t>{2, 2}},
                         {"ceil_mode", int64_t{1}},
                         {"count_include_pad", int64_t{1}}}),
                {x});
  expect_values(c["y"], {1, 1, 2, 2}, {3, 4.5f, 7.5f, 9});
}

TEST(ReferencePool, GlobalPoolsAndReduceMean) {
  const Tensor x = iota("x", {1, 2, 2, 2});
  expect_values(run1(make_op("p", "GlobalAveragePool", {"x"}, {"y"}), {x})["y"], {1, 2, 1, 1}, {2.5f, 6.5f});
  expect_values(run1(make_op("p", "GlobalMaxPool", {"x"}, {"y"}), {x})["y"], {1, 2, 1, 1}, {4, 8});
  auto m = run1(make_op("m", "ReduceMean", {"x"}, {"y"}, {{"axes", std::vector<int64_t>{2, -1}}, {"keepdims", int64_t{0}}}), {x});
  expect_values(m["y"], {1, 2}, {2.5f, 6.5f});
}

TEST(ReferenceResize, NearestTimesTwo) {
  const Tensor x = iota("x", {1, 1, 2, 2});
  const std::vector<float> want = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  auto r = run1(make_op("r", "Resize", {"x", "", "sc"}, {"y"},
                        {{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("asymmetric")},
                         {"nearest_mode", std::string("floor")}}),
                {x}, {floats("sc", {4}, {1, 1, 2, 2})});
  expect_values(r["y"], {1, 1, 4, 4}, want);
  // Defaults (half_pixel, round_prefer_floor) give the same for x2.
  auto d = run1(make_op("r", "Resize", {"x", "", "sc"}, {"y"}), {x}, {floats("sc", {4}, {1, 1, 2, 2})});
  expect_values(d["y"], {1, 1, 4, 4}, want);
  auto u = run1(make_op("u", "Upsample", {"x", "sc"}, {"y"}), {x}, {floats("sc", {4}, {1, 1, 2, 2})}, 9);
  expect_values(u["y"], {1, 1, 4, 4}, want);
  // align_corners maps 3 outputs onto input columns 0, 2, 4.
  auto ceil = run1(make_op("r", "Resize", {"x", "", "", "sz"}, {"y"},
                           {{"coordinate_transformation_mode", std::string("align_corners")}, {"nearest_mode", std::string("round_prefer_ceil")}}),
                   {iota("x", {1, 1, 1, 5})}, {Tensor::ints("sz", {1, 1, 1, 3}, {4})});
  expect_values(ceil["y"], {1, 1, 1, 3}, {1, 3, 5});
}

TEST(ReferenceResize, Bilinear) {
  const Tensor x = iota("x", {1, 1, 2, 2});
  auto hp = run1(make_op("r", "Resize", {"x", "", "", "sz"}, {"y"}, {{"mode", std::string("linear")}}), {x},
                 {Tensor::ints("sz", {1, 1, 4, 4}, {4})});
  expect_values(hp["y"], {1, 1, 4, 4},
                {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  auto ac = run1(make_op("r", "Resize", {"x", "", "", "sz"}, {"y"},
                         {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}}),
                 {x}, {Tensor::ints("sz", {1, 1, 3, 3}, {4})});
  expect_values(ac["y"], {1, 1, 3, 3}, {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  auto as = run1(make_op("r", "Resize", {"x", "", "sc"}, {"y"},
                         {{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("asymmetric")}}),
                 {x}, {floats("sc", {4}, {1, 1, 1, 2})});
  expect_values(as["y"], {1, 1, 2, 4}, {1, 1.5f, 2, 2, 3, 3.5f, 4, 4});
}

TEST(ReferenceShapeOps, ReshapeFlattenTranspose) {
  const Tensor x = iota("x", {2, 3, 4});
  auto r = run1(make_op("r", "Reshape", {"x", "s"}, {"y"}), {x}, {Tensor::ints("s", {0, -1}, {2})});
  expect_values(r["y"], {2, 12}, x.f32);
  EXPECT_THROW(run1(make_op("r", "Reshape", {"x", "s"}, {"y"}), {x}, {Tensor::ints("s", {5, -1}, {2})}), hilsim::Error);
  expect_values(run1(make_op("f", "Flatten", {"x"}, {"y"}, {{"axis", int64_t{2}}}), {x})["y"], {6, 4}, x.f32);
  auto t = run1(make_op("t", "Transpose", {"x"}, {"y"}), {iota("x", {2, 3})});
  expect_values(t["y"], {3, 2}, {1, 4, 2, 5, 3, 6});
  auto p = run1(make_op("t", "Transpose", {"x"}, {"y"}, {{"perm", std::vector<int64_t>{1, 2, 0}}}), {x});
  ASSERT_EQ(p["y"].shape, (Shape{3, 4, 2}));
  EXPECT_EQ(p["y"].f32[1], 13.0f);  // y[0,0,1] = x[1,0,0]
  EXPECT_EQ(p["y"].f32[2], 2.0f);   // y[0,1,0] = x[0,0,1]
}

TEST(ReferenceShapeOps, PadModes) {
  const Tensor x = iota("x", {1, 3});
  auto pad = [&](const std::string& mode) {
    return run1(make_op("p", "Pad", {"x", "pads"}, {"y"}, {{"mode", mode}}), {x}, {Tensor::ints("pads", {0, 2, 0, 1}, {4})})["y"];
  };
  expect_values(pad("reflect"), {1, 6}, {3, 2, 1, 2, 3, 2});
  expect_values(pad("edge"), {1, 6}, {1, 1, 1, 2, 3, 3});
  expect_values(pad("constant"), {1, 6}, {0, 0, 1, 2, 3, 0});
  auto v = run1(make_op("p", "Pad", {"x"}, {"y"}, {{"pads", std::vector<int64_t>{1, 0, 0, 0}}, {"value", 9.0f}}), {x}, {}, 2);
  expect_values(v["y"], {2, 3}, {9, 9, 9, 1, 2, 3});
}

TEST(ReferenceSoftmax, SumsToOne) {
  const Tensor x = random("x", {2, 3, 4}, 9);
  auto r = run1(make_op("s", "Softmax", {"x"}, {"y"}), {x});
  for (int64_t row = 0; row < 6; ++row) {
    double s = 0;
    for (int64_t k = 0; k < 4; ++k) s += r["y"].f32[row * 4 + k];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  // Opset 11 coerces to 2-D at axis 1: each batch row of 12 sums to one.
  auto o = run1(make_op("s", "Softmax", {"x"}, {"y"}), {x}, {}, 11);
  for (int64_t row = 0; row < 2; ++row) {
    double s = 0;
    for (int64_t k = 0; k < 12; ++k) s += o["y"].f32[row * 12 + k];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  auto a = run1(make_op("s", "Softmax", {"x"}, {"y"}, {{"axis", int64_t{1}}}), {x});
  double s = 0;
  for (int64_t k = 0; k < 3; ++k) s += a["y"].f32[k * 4 + 1];
  EXPECT_NEAR(s, 1.0, 1e-6);
}

TEST(ReferenceShapeOps, TorchFlattenChain) {
  // Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape: torch.flatten(x, 1) as exported.
  Graph g;
  g.add_input({"x", DType::kFloat32, {2, 3, 2, 2}, true});
  g.set_constant(Tensor::ints("zero", {0}, {}));
  g.set_constant(Tensor::ints("ax0", {0}, {1}));
  g.set_constant(Tensor::ints("minus1", {-1}, {1}));
  g.add_op(make_op("reshape", "Reshape", {"x", "shape"}, {"y"}));
  g.add_op(make_op("cat", "Concat", {"n1", "minus1"}, {"shape"}, {{"axis", int64_t{0}}}));
  g.add_op(make_op("unsq", "Unsqueeze", {"n", "ax0"}, {"n1"}));
  g.add_op(make_op("gather", "Gather", {"s", "zero"}, {"n"}, {{"axis", int64_t{0}}}));
  g.add_op(make_op("shape", "Shape", {"x"}, {"s"}));
  g.add_output("y");
  g.add_output("shape");
  const Tensor x = iota("x", {2, 3, 2, 2});
  auto r = run_reference(g, {{"x", x}});
  expect_values(r["y"], {2, 12}, x.f32);
  EXPECT_EQ(r["shape"].i64, (std::vector<int64_t>{2, -1}));
  // Opset 11 Unsqueeze takes axes as an attribute.
  auto u = run1(make_op("u", "Unsqueeze", {"x"}, {"y"}, {{"axes", std::vector<int64_t>{0, -1}}}), {iota("x", {3})}, {}, 11);
  EXPECT_EQ(u["y"].shape, (Shape{1, 3, 1}));
  auto sq = run1(make_op("s", "Squeeze", {"x", "a"}, {"y"}), {iota("x", {1, 3, 1})}, {Tensor::ints("a", {-1}, {1})});
  EXPECT_EQ(sq["y"].shape, (Shape{1, 3}));
}

TEST(ReferenceShapeOps, GatherCastExpandWhereRange) {
  auto gf = run1(make_op("g", "Gather", {"x", "i"}, {"y"}, {{"axis", int64_t{1}}}), {iota("x", {2, 3})},
                 {Tensor::ints("i", {-1, 0}, {2})});
  expect_values(gf["y"], {2, 2}, {3, 1, 6, 4});
  EXPECT_THROW(run1(make_op("g", "Gather", {"x", "i"}, {"y"}), {iota("x", {2, 3})}, {Tensor::ints("i", {2}, {1})}), hilsim::Error);
  auto c = run1(make_op("c", "Cast", {"x"}, {"y"}, {{"to", int64_t{7}}}), {floats("x", {3}, {1.7f, -1.7f, 0})});
  EXPECT_EQ(c["y"].i64, (std::vector<int64_t>{1, -1, 0}));
  auto e = run1(make_op("e", "Expand", {"x", "s"}, {"y"}), {iota("x", {3, 1})}, {Tensor::ints("s", {2, 1, 2}, {3})});
  expect_values(e["y"], {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  Tensor cond = Tensor::ints("c", {1, 0, 1}, {3});
  cond.dtype = DType::kBool;
  auto w = run1(make_op("w", "Where", {"c", "a", "b"}, {"y"}), {iota("a", {3})}, {cond, floats("b", {1}, {-1})});
  expect_values(w["y"], {3}, {1, -1, 3});
  auto rg = run1(make_op("r", "Range", {"s", "l", "d"}, {"y"}), {},
                 {Tensor::ints("s", {10}, {}), Tensor::ints("l", {3}, {}), Tensor::ints("d", {-3}, {})});
  EXPECT_EQ(rg["y"].i64, (std::vector<int64_t>{10, 7, 4}));
  Op cos = make_op("k", "ConstantOfShape", {"s"}, {"y"});
  cos.attrs["value"] = floats("v", {1}, {2.5f});
  auto k = run1(cos, {}, {Tensor::ints("s", {2, 2}, {2})});
  expect_values(k["y"], {2, 2}, {2.5f, 2.5f, 2.5f, 2.5f});
  auto cst = run1(make_op("k", "Constant", {}, {"y"}, {{"value_ints", std::vector<int64_t>{4, 5}}}), {});
  EXPECT_EQ(cst["y"].i64, (std::vector<int64_t>{4, 5}));
}

TEST(ReferenceFused, ActivationIsApplied) {
  const std::vector<float> w = {1.0f, -1.0f};
  Op op = make_op("conv", "Conv", {"x", "w"}, {"y"});
  const Tensor x = floats("x", {1, 2, 1, 2}, {3, -4, 1, 2});  // y = x0 - x1 = [2, -6]
  op.fused.kind = Activation::kRelu;
  expect_values(run1(op, {x}, {floats("w", {1, 2, 1, 1}, w)})["y"], {1, 1, 1, 2}, {2, 0});
  op.fused.kind = Activation::kClip;
  op.fused.min = -1.0f;
  op.fused.max = 1.5f;
  expect_values(run1(op, {x}, {floats("w", {1, 2, 1, 1}, w)})["y"], {1, 1, 1, 2}, {1.5f, -1});
  op.fused.kind = Activation::kHardSwish;
  expect_values(run1(op, {x}, {floats("w", {1, 2, 1, 1}, w)})["y"], {1, 1, 1, 2}, {2 * (5.0f / 6), 0});
  op.fused.kind = Activation::kSiLU;
  expect_values(run1(op, {x}, {floats("w", {1, 2, 1, 1}, w)})["y"], {1, 1, 1, 2},
                {float(2 / (1 + std::exp(-2.0))), float(-6 / (1 + std::exp(6.0)))});
  op.fused.kind = Activation::kHardSigmoid;
  op.fused.alpha = 0.25f;
  op.fused.beta = 0.5f;
  expect_values(run1(op, {x}, {floats("w", {1, 2, 1, 1}, w)})["y"], {1, 1, 1, 2}, {1.0f, 0.0f});
}

TEST(ReferenceErrors, UnknownOpNamesTheNode) {
  try {
    run1(make_op("mystery_node", "FancyOp", {"x"}, {"y"}), {iota("x", {2})});
    FAIL() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mystery_node"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("FancyOp"), std::string::npos);
  }
}

TEST(ReferenceErrors, MissingInputsThrow) {
  // An op reading a tensor nothing produces.
  try {
    run1(make_op("adder", "Add", {"x", "ghost"}, {"y"}), {iota("x", {2})});
    FAIL() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("adder"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ghost"), std::string::npos);
  }
  // A graph input without a value.
  Graph g;
  g.add_input({"x", DType::kFloat32, {2}, true});
  g.add_op(make_op("r", "Relu", {"x"}, {"y"}));
  g.add_output("y");
  EXPECT_THROW(run_reference(g, {}), hilsim::Error);
  // A value whose data does not match its shape.
  Tensor bad = iota("x", {2});
  bad.shape = {3};
  EXPECT_THROW(run_reference(g, {{"x", bad}}), hilsim::Error);
  // A required input left empty.
  EXPECT_THROW(run1(make_op("conv", "Conv", {"x", ""}, {"y"}), {iota("x", {1, 1, 2, 2})}), hilsim::Error);
}

TEST(ReferenceExecutor, FreesIntermediatesButKeepsOutputs) {
  Graph g;
  g.add_input({"x", DType::kFloat32, {4}, true});
  g.add_op(make_op("a", "Relu", {"x"}, {"t"}));
  g.add_op(make_op("b", "Neg", {"t"}, {"u"}));
  g.add_op(make_op("c", "Add", {"t", "u"}, {"z"}));
  g.add_output("t");
  g.add_output("z");
  auto r = run_reference(g, {{"x", floats("x", {4}, {-1, 2, -3, 4})}});
  expect_values(r["t"], {4}, {0, 2, 0, 4});
  expect_values(r["z"], {4}, {0, 0, 0, 0});
}

TEST(ReferenceExecutor, RandomInputsAndErrorMeasure) {
  Graph g;
  g.add_input({"x", DType::kFloat32, {2, 3}, true});
  g.add_input({"w", DType::kFloat32, {3}, true});
  g.set_constant(iota("w", {3}));  // an initializer listed as input gets no random value
  auto a = hilsim::runtime::random_inputs(g, 3), b = hilsim::runtime::random_inputs(g, 3);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a["x"].f32, b["x"].f32);
  for (float v : a["x"].f32) EXPECT_TRUE(v >= -1.0f && v <= 1.0f);
  EXPECT_NE(a["x"].f32, hilsim::runtime::random_inputs(g, 4)["x"].f32);

  Graph u;
  u.add_input({"dyn", DType::kFloat32, {-1, 3}, true});
  try {
    hilsim::runtime::random_inputs(u);
    FAIL() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("dyn"), std::string::npos);
  }
  Graph v;
  v.add_input({"unk", DType::kFloat32, {}, false});
  EXPECT_THROW(hilsim::runtime::random_inputs(v), hilsim::Error);

  using hilsim::runtime::max_rel_error;
  const Tensor p = floats("p", {3}, {1, 2, 4}), q = floats("q", {3}, {1, 2.5f, 4});
  EXPECT_NEAR(max_rel_error(q, p), 0.125, 1e-9);
  EXPECT_NEAR(max_rel_error(floats("a", {1}, {1e-6f}), floats("b", {1}, {0})), 1e-3, 1e-9);  // floor
  EXPECT_TRUE(std::isinf(max_rel_error(p, floats("r", {1, 3}, {1, 2, 4}))));
  EXPECT_TRUE(std::isinf(max_rel_error(floats("n", {3}, {1, NAN, 4}), p)));
  EXPECT_EQ(max_rel_error(p, p), 0.0);
}

TEST(ReferenceOps, PoolShapeOutputDims) {
  hilsim::kernels::PoolShape s;
  s.h = s.w = 112;
  s.kh = s.kw = 3;
  s.stride_h = s.stride_w = 2;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  EXPECT_EQ(s.out_h(), 56);
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 0;
  s.ceil_mode = true;
  EXPECT_EQ(s.out_h(), 56);  // torch: ceil((112 - 3) / 2) + 1
  s.ceil_mode = false;
  EXPECT_EQ(s.out_h(), 55);
}

// ScatterND, Mod, Not and a three-input Max on run-time tensors (at import they fold; the reference must agree).
TEST(ReferenceExecutor, ScatterNdModAndNot) {
  Graph g;
  g.opset = 13;
  g.add_input(TensorInfo{"x", DType::kFloat32, {2, 3}, true});
  g.set_constant(Tensor::ints("idx", {1, 0, 0, -1}, {2, 2}));
  g.set_constant(Tensor{"upd", DType::kFloat32, {2}, {7.0f, 9.0f}, {}});
  g.set_constant(Tensor{"d", DType::kFloat32, {1}, {0.75f}, {}});
  auto add = [&](const std::string& type, std::vector<std::string> in, const std::string& out) {
    Op op;
    op.type = type;
    op.name = out;
    op.inputs = std::move(in);
    op.outputs = {out};
    if (type == "Mod") op.attrs["fmod"] = int64_t{1};
    g.add_op(op);
  };
  add("ScatterND", {"x", "idx", "upd"}, "s");
  add("Mod", {"x", "d"}, "m");
  add("Not", {"x"}, "n");
  g.set_constant(Tensor{"e", DType::kFloat32, {3}, {4.0f, -1.0f, -3.0f}, {}});
  add("Max", {"x", "d", "e"}, "mx");  // variadic: all three inputs count
  for (const char* o : {"s", "m", "n", "mx"}) g.add_output(o);
  Tensor x{"x", DType::kFloat32, {2, 3}, {0.0f, 1.0f, -2.5f, 3.0f, 0.0f, 5.0f}, {}};
  TensorMap out = run_reference(g, {{"x", x}});
  EXPECT_EQ(out.at("s").f32, (std::vector<float>{0.0f, 1.0f, 9.0f, 7.0f, 0.0f, 5.0f}));
  EXPECT_EQ(out.at("m").f32, (std::vector<float>{0.0f, 0.25f, -0.25f, 0.0f, 0.0f, 0.5f}));
  EXPECT_EQ(out.at("n").i64, (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(out.at("mx").f32, (std::vector<float>{4.0f, 1.0f, 0.75f, 4.0f, 0.75f, 5.0f}));
}
