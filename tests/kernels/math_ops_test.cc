// Arithmetic kernels against plain double loops on odd shapes: channel affine with a fused activation,
// unary math (the fast erf/tanh against libm), reductions over every layout, softmax on the last and
// a middle axis, layer norm, bilinear resize in each coordinate mode.
#include "hilsim/kernels/math_ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::random_floats;
using testing::rel_error;

TEST(MathOps, ChannelAffineWithActivation) {
  ThreadPool pool(2);
  // Odd planes, late-layer planes (3x3 maps of many channels: chunks of whole planes split across the
  // threads) and one-element planes.
  struct Dims { int64_t n, c, inner; };
  for (const Dims d : {Dims{2, 7, 13 * 5}, Dims{1, 2208, 9}, Dims{3, 5, 1}})
  for (const auto& ep : testing::all_epilogues()) {
    const int64_t n = d.n, c = d.c, inner = d.inner;
    const auto x = random_floats(static_cast<size_t>(n * c * inner), 1);
    const auto s = random_floats(c, 2), b = random_floats(c, 3);
    std::vector<float> out(x.size()), want(x.size());
    for (int64_t i = 0; i < n * c * inner; ++i) want[i] = apply_act(ep, x[i] * s[(i / inner) % c] + b[(i / inner) % c]);
    channel_affine(n, c, inner, x.data(), s.data(), b.data(), out.data(), pool, ep);
    EXPECT_LT(rel_error(out, want), 1e-6) << act_name(ep.act) << " c" << c << " inner " << inner;
  }
  // One big plane splits across threads.
  const auto x = random_floats(100000, 4);
  const float s = 1.5f, b = -0.25f;
  std::vector<float> out(x.size()), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * s + b;
  channel_affine(1, 1, 100000, x.data(), &s, &b, out.data(), pool);
  EXPECT_LT(rel_error(out, want), 1e-6);
}

TEST(MathOps, UnaryEqualsLibm) {
  ThreadPool pool(2);
  auto x = random_floats(40001, 5, -6.0f, 6.0f);
  x[0] = 0.0f, x[1] = 1e-5f, x[2] = -30.0f, x[3] = 30.0f;
  std::vector<float> out(x.size()), want(x.size());
  struct C { UnaryOp op; double (*f)(double); double tol; };
  const std::vector<C> cases = {
      {UnaryOp::kErf, [](double v) { return std::erf(v); }, 1e-6},
      {UnaryOp::kTanh, [](double v) { return std::tanh(v); }, 1e-6},
      {UnaryOp::kLeakyRelu, [](double v) { return v >= 0 ? v : 0.1 * v; }, 1e-7},
      {UnaryOp::kNeg, [](double v) { return -v; }, 0},
      {UnaryOp::kAbs, [](double v) { return std::fabs(v); }, 0},
      {UnaryOp::kGelu, [](double v) { return v * 0.5 * (1.0 + std::erf(v / std::sqrt(2.0))); }, 1e-6},
      {UnaryOp::kGeluTanh,
       [](double v) { return v * 0.5 * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979) * (v + 0.044715 * v * v * v))); },
       1e-6},
      {UnaryOp::kSquare, [](double v) { return v * v; }, 1e-7}};
  for (const auto& c : cases) {
    for (size_t i = 0; i < x.size(); ++i) want[i] = static_cast<float>(c.f(x[i]));
    unary_op(c.op, x.data(), out.data(), static_cast<int64_t>(x.size()), pool, 0.1f);
    EXPECT_LE(rel_error(out, want), c.tol) << static_cast<int>(c.op);
  }
  const auto pos = random_floats(999, 6, 0.0f, 4.0f);
  std::vector<float> o2(pos.size()), w2(pos.size());
  for (size_t i = 0; i < pos.size(); ++i) w2[i] = std::sqrt(pos[i]);
  unary_op(UnaryOp::kSqrt, pos.data(), o2.data(), 999, pool);
  EXPECT_LT(rel_error(o2, w2), 1e-6);
  for (size_t i = 0; i < pos.size(); ++i) w2[i] = std::exp(pos[i]);
  unary_op(UnaryOp::kExp, pos.data(), o2.data(), 999, pool);
  EXPECT_LT(rel_error(o2, w2), 1e-6);
  // exp relative to each value over the normal float range, and its edges: overflow, underflow, NaN.
  auto wide = random_floats(4001, 7, -86.5f, 88.7f);
  std::vector<float> o3(wide.size());
  unary_op(UnaryOp::kExp, wide.data(), o3.data(), static_cast<int64_t>(wide.size()), pool);
  for (size_t i = 0; i < wide.size(); ++i)
    EXPECT_NEAR(o3[i] / std::exp(static_cast<double>(wide[i])), 1.0, 1e-6) << wide[i];
  const std::vector<float> edge = {100.0f, -200.0f, NAN, 0.0f, 88.72f, -87.0f, 1e30f, -1e30f};
  std::vector<float> o4(edge.size());
  unary_op(UnaryOp::kExp, edge.data(), o4.data(), static_cast<int64_t>(edge.size()), pool);
  EXPECT_TRUE(std::isinf(o4[0]));
  EXPECT_EQ(o4[1], 0.0f);
  EXPECT_TRUE(std::isnan(o4[2]));
  EXPECT_EQ(o4[3], 1.0f);
  EXPECT_NEAR(o4[4] / std::exp(static_cast<double>(edge[4])), 1.0, 1e-6);  // just below FLT_MAX
  EXPECT_LT(o4[5], 3e-38f);                          // flushed below the normal range
  EXPECT_TRUE(std::isinf(o4[6]));
  EXPECT_EQ(o4[7], 0.0f);
}

std::vector<float> reduce_ref(ReduceOp op, int64_t outer, int64_t red, int64_t inner, const std::vector<float>& x) {
  std::vector<float> out(static_cast<size_t>(outer * inner));
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = op == ReduceOp::kMax ? -INFINITY : 0.0;
      for (int64_t k = 0; k < red; ++k) {
        const double v = x[(p * red + k) * inner + i];
        acc = op == ReduceOp::kMax ? std::max(acc, v) : acc + v;
      }
      out[p * inner + i] = static_cast<float>(op == ReduceOp::kMean ? acc / red : acc);
    }
  return out;
}

TEST(MathOps, ReduceEveryLayout) {
  ThreadPool pool(2);
  struct C { int64_t outer, red, inner; };
  for (const C& c : {C{7, 13 * 5, 1}, C{1, 7, 13 * 5}, C{7, 13, 5}, C{3, 1, 11}, C{64, 400, 1}})
    for (ReduceOp op : {ReduceOp::kMean, ReduceOp::kSum, ReduceOp::kMax}) {
      const auto x = random_floats(static_cast<size_t>(c.outer * c.red * c.inner), 7);
      std::vector<float> out(static_cast<size_t>(c.outer * c.inner));
      reduce(op, c.outer, c.red, c.inner, x.data(), out.data(), pool);
      EXPECT_LT(rel_error(out, reduce_ref(op, c.outer, c.red, c.inner, x)), 1e-5)
          << c.outer << "x" << c.red << "x" << c.inner << " op " << static_cast<int>(op);
    }
  // Gather form: reduce dims 0 and 2 of [3, 4, 5] -> [4].
  const auto x = random_floats(60, 8);
  std::vector<int64_t> bases = {0, 5, 10, 15}, offsets;
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t c = 0; c < 5; ++c) offsets.push_back(a * 20 + c);
  std::vector<float> out(4), want(4, 0.0f);
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t off : offsets) want[b] += x[bases[b] + off];
  reduce_gather(ReduceOp::kSum, bases, offsets, x.data(), out.data(), pool);
  EXPECT_LT(rel_error(out, want), 1e-6);
}

TEST(MathOps, SoftmaxLastAndMiddleAxis) {
  ThreadPool pool(2);
  struct C { int64_t outer, axis, inner; };
  // ... and YOLOv8's DFL (outer 1, 16 bins, an inner axis of several column chunks with a short last one).
  for (const C& c : {C{7, 13, 1}, C{1, 7, 13 * 5}, C{3, 1, 4}, C{5, 1000, 1}, C{1, 16, 4 * 301}, C{3, 5, 257}}) {
    const auto x = random_floats(static_cast<size_t>(c.outer * c.axis * c.inner), 9, -5.0f, 5.0f);
    std::vector<float> out(x.size()), want(x.size());
    for (int64_t p = 0; p < c.outer; ++p)
      for (int64_t i = 0; i < c.inner; ++i) {
        double mx = -INFINITY, sum = 0;
        for (int64_t k = 0; k < c.axis; ++k) mx = std::max(mx, static_cast<double>(x[(p * c.axis + k) * c.inner + i]));
        for (int64_t k = 0; k < c.axis; ++k) sum += std::exp(x[(p * c.axis + k) * c.inner + i] - mx);
        for (int64_t k = 0; k < c.axis; ++k) {
          const int64_t j = (p * c.axis + k) * c.inner + i;
          want[j] = static_cast<float>(std::exp(x[j] - mx) / sum);
        }
      }
    softmax(c.outer, c.axis, c.inner, x.data(), out.data(), pool);
    EXPECT_LT(rel_error(out, want), 1e-6) << c.outer << "x" << c.axis << "x" << c.inner;
  }
}

TEST(MathOps, LayerNormRows) {
  ThreadPool pool(2);
  const int64_t rows = 13, width = 37;
  auto x = random_floats(static_cast<size_t>(rows * width), 10);
  for (auto& v : x) v += 100.0f;  // a large mean: the variance must not cancel
  const auto s = random_floats(width, 11), b = random_floats(width, 12);
  std::vector<float> out(x.size()), want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < width; ++i) m += x[r * width + i];
    m /= width;
    for (int64_t i = 0; i < width; ++i) v += (x[r * width + i] - m) * (x[r * width + i] - m);
    v /= width;
    for (int64_t i = 0; i < width; ++i)
      want[r * width + i] = static_cast<float>((x[r * width + i] - m) / std::sqrt(v + 1e-5) * s[i] + b[i]);
  }
  layer_norm(rows, width, x.data(), s.data(), b.data(), 1e-5f, out.data(), pool);
  EXPECT_LT(rel_error(out, want), 1e-4);
}

TEST(MathOps, BilinearResizeEqualsReference) {
  ThreadPool pool(2);
  const int64_t planes = 3, h = 7, w = 5;
  const auto x = random_floats(static_cast<size_t>(planes * h * w), 13);
  for (const std::string coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"})
    for (const auto& [oh, ow] : {std::pair<int64_t, int64_t>{14, 10}, {13, 3}, {1, 1}}) {
      std::vector<float> out(static_cast<size_t>(planes * oh * ow)), want(out.size());
      const std::vector<int64_t> is = {1, planes, h, w}, os = {1, planes, oh, ow};
      const std::vector<double> sc = {1, 1, static_cast<double>(oh) / h, static_cast<double>(ow) / w};
      ref_resize(is, os, sc, "linear", coord, "floor", x.data(), want.data());
      resize_linear(planes, h, w, oh, ow, linear_taps(h, oh, sc[2], coord), linear_taps(w, ow, sc[3], coord), x.data(),
                    out.data(), pool);
      EXPECT_LT(rel_error(out, want), 1e-6) << coord << " " << oh << "x" << ow;
    }
  EXPECT_THROW(linear_taps(4, 8, 2.0, "tf_crop_and_resize"), Error);
}

}  // namespace
}  // namespace hilsim::kernels
