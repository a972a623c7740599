// Memory-bound kernels against plain loops: pooling (pads, stride, ceil-mode windows), global average,
// broadcasting add/mul/sub/div, concat on several axes, nearest resize, activation in place.
#include "hilsim/kernels/memory_ops.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::random_floats;
using testing::rel_error;

std::vector<float> pool_ref(const Pool2dShape& s, const std::vector<float>& in, bool is_max) {
  std::vector<float> out(static_cast<size_t>(s.n * s.c * s.out_h * s.out_w));
  for (int64_t p = 0; p < s.n * s.c; ++p)
    for (int64_t oy = 0; oy < s.out_h; ++oy)
      for (int64_t ox = 0; ox < s.out_w; ++ox) {
        double acc = is_max ? -INFINITY : 0.0;
        int64_t cnt = 0;
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < s.kw; ++kx) {
            const int64_t y = oy * s.stride_h - s.pad_top + ky, x = ox * s.stride_w - s.pad_left + kx;
            const bool inside = y >= 0 && y < s.h && x >= 0 && x < s.w;
            const bool in_pad = y >= -s.pad_top && y < s.h + s.pad_bottom && x >= -s.pad_left && x < s.w + s.pad_right;
            if (inside) {
              const float v = in[(p * s.h + y) * s.w + x];
              acc = is_max ? std::max(acc, static_cast<double>(v)) : acc + v;
            }
            if (s.count_include_pad ? in_pad : inside) ++cnt;
          }
        out[(p * s.out_h + oy) * s.out_w + ox] = static_cast<float>(is_max ? acc : (cnt ? acc / cnt : 0.0));
      }
  return out;
}

TEST(MemoryOps, Pooling) {
  ThreadPool pool(2);
  struct C { int64_t h, w, k, s, pt, pl, pb, pr, oh, ow; bool incl; };
  // (13 + 0 - 3) / 2 + 1 = 6 floor, 7 with ceil_mode: the last window hangs past the input.
  const std::vector<C> cases = {{13, 13, 5, 1, 2, 2, 2, 2, 13, 13, false}, {13, 13, 3, 2, 0, 0, 0, 0, 7, 7, false},
                                {7, 9, 3, 2, 1, 0, 0, 1, 4, 5, true},     {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, false},
                                {40, 40, 2, 2, 0, 0, 0, 0, 20, 20, false}, {7, 7, 3, 1, 1, 1, 1, 1, 7, 7, true},
                                // 2x2 stride 2 read in place: odd sizes (the last row / column dropped),
                                // tiny planes; and ceil mode, whose last window hangs past the input
                                {7, 9, 2, 2, 0, 0, 0, 0, 3, 4, false},    {6, 6, 2, 2, 0, 0, 0, 0, 3, 3, false},
                                {2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false},    {7, 9, 2, 2, 0, 0, 0, 0, 4, 5, false},
                                // stride 2 on rows split into even and odd columns: ResNet's padded 3x3,
                                // a one-column plane, a 5x5 (taps from both halves up to kx / 2 = 2)
                                {12, 12, 3, 2, 1, 1, 1, 1, 6, 6, false},  {5, 1, 3, 2, 1, 1, 1, 1, 3, 1, false},
                                {11, 10, 5, 2, 2, 2, 2, 2, 6, 5, true}};
  int i = 0;
  // 2 x 3 planes run one to a stack; 37 small planes run in stacks of several, whose flat passes
  // cross from one plane into the next (a partial last stack too).
  for (const int64_t channels : {3, 37})
  for (const auto& c : cases) {
    Pool2dShape s;
    s.n = channels == 3 ? 2 : 1, s.c = channels, s.h = c.h, s.w = c.w, s.kh = s.kw = c.k, s.stride_h = s.stride_w = c.s;
    s.pad_top = c.pt, s.pad_left = c.pl, s.pad_bottom = c.pb, s.pad_right = c.pr, s.out_h = c.oh, s.out_w = c.ow;
    s.count_include_pad = c.incl;
    const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), 50 + i++);
    std::vector<float> out(static_cast<size_t>(s.n * s.c * s.out_h * s.out_w));
    max_pool2d(s, in.data(), out.data(), pool);
    EXPECT_LT(rel_error(out, pool_ref(s, in, true)), 1e-6) << "max case " << i;
    avg_pool2d(s, in.data(), out.data(), pool);
    EXPECT_LT(rel_error(out, pool_ref(s, in, false)), 1e-5) << "avg case " << i;
  }
  Pool2dShape bad;
  bad.c = bad.h = bad.w = 4;
  bad.out_h = 0, bad.out_w = 1;
  std::vector<float> buf(64);
  EXPECT_THROW(max_pool2d(bad, buf.data(), buf.data(), pool), Error);
}

TEST(MemoryOps, GlobalAvgPool) {
  ThreadPool pool(2);
  for (int64_t hw : {1, 7, 49, 1600}) {
    const auto in = random_floats(static_cast<size_t>(2 * 5 * hw), 60);
    std::vector<float> out(10), want(10);
    for (int64_t p = 0; p < 10; ++p) {
      double s = 0;
      for (int64_t i = 0; i < hw; ++i) s += in[p * hw + i];
      want[p] = static_cast<float>(s / hw);
    }
    global_avg_pool(2, 5, hw, in.data(), out.data(), pool);
    EXPECT_LT(rel_error(out, want), 1e-5) << hw;
  }
}

// The element of `shape` that flat index `flat` of the broadcast shape `os` reads.
int64_t bcast_offset(const std::vector<int64_t>& os, const std::vector<int64_t>& shape, int64_t flat) {
  int64_t off = 0, mul = 1;
  for (size_t i = os.size(); i-- > 0;) {
    const int64_t idx = flat % os[i];
    flat /= os[i];
    const int64_t r = static_cast<int64_t>(i) - static_cast<int64_t>(os.size() - shape.size());
    if (r >= 0) {
      off += (shape[r] == 1 ? 0 : idx) * mul;
      mul *= shape[r];
    }
  }
  return off;
}

// Reference broadcasting by explicit index arithmetic on the broadcast shape.
std::vector<float> binary_ref(BinaryOp op, const std::vector<int64_t>& as, const std::vector<float>& a,
                              const std::vector<int64_t>& bs, const std::vector<float>& b, const Epilogue& ep) {
  const auto os = broadcast_shape(as, bs);
  int64_t total = 1;
  for (auto d : os) total *= d;
  std::vector<float> out(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) {
    const float x = a[bcast_offset(os, as, i)], y = b[bcast_offset(os, bs, i)];
    float v = 0.0f;
    switch (op) {
      case BinaryOp::kAdd: v = x + y; break;
      case BinaryOp::kMul: v = x * y; break;
      case BinaryOp::kSub: v = x - y; break;
      case BinaryOp::kDiv: v = x / y; break;
      case BinaryOp::kMax: v = std::max(x, y); break;
      case BinaryOp::kMin: v = std::min(x, y); break;
      case BinaryOp::kFmod: v = std::fmod(x, y); break;
    }
    out[i] = apply_act(ep, v);
  }
  return out;
}

TEST(MemoryOps, BroadcastBinary) {
  ThreadPool pool(2);
  using S = std::vector<int64_t>;
  const std::vector<std::pair<S, S>> cases = {
      {{1, 8, 13, 13}, {1, 8, 13, 13}}, {{1, 8, 13, 13}, {1, 8, 1, 1}}, {{1, 8, 13, 13}, {8, 1, 1}},
      {{2, 8, 7, 7}, {1}},              {{1, 1, 7, 1}, {1, 3, 1, 5}},   {{2, 3, 4, 5}, {3, 1, 5}},
      {{1, 64, 40, 40}, {1, 64, 40, 40}}, {{}, {3}}};
  int i = 0;
  Epilogue silu;
  silu.act = Act::kSiLU;
  for (const auto& [as, bs] : cases) {
    int64_t na = 1, nb = 1, no = 1;
    for (auto d : as) na *= d;
    for (auto d : bs) nb *= d;
    for (auto d : broadcast_shape(as, bs)) no *= d;
    const auto a = random_floats(static_cast<size_t>(na), 80 + i), b = random_floats(static_cast<size_t>(nb), 90 + i);
    std::vector<float> out(static_cast<size_t>(no));
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kMul, BinaryOp::kSub, BinaryOp::kDiv, BinaryOp::kMax,
                        BinaryOp::kMin, BinaryOp::kFmod}) {
      const Epilogue ep = i % 2 ? silu : Epilogue{};
      binary_op(op, as, a.data(), bs, b.data(), out.data(), pool, ep);
      EXPECT_LT(rel_error(out, binary_ref(op, as, a, bs, b, ep)), 1e-5) << "case " << i;
    }
    ++i;
  }
  EXPECT_THROW(broadcast_shape({1, 3, 4}, {1, 2, 4}), Error);
}

// Where on odd shapes with every operand broadcasting in turn, against index arithmetic.
TEST(MemoryOps, WhereSelect) {
  ThreadPool pool(2);
  using S = std::vector<int64_t>;
  const std::vector<std::array<S, 3>> cases = {{{{1, 7, 13, 5}, {1, 7, 13, 5}, {1, 7, 13, 5}}},
                                               {{{13, 5}, {1, 7, 13, 5}, {1}}},
                                               {{{1, 7, 1, 1}, {7, 13, 1}, {1, 1, 5}}},
                                               {{{}, {3, 5}, {3, 1}}},
                                               {{{1, 1, 49, 49}, {3, 4, 49, 49}, {}}}};
  int i = 0;
  for (const auto& [cs, as, bs] : cases) {
    auto numel = [](const S& s) { int64_t n = 1; for (auto d : s) n *= d; return n; };
    const S os = broadcast_shape(broadcast_shape(cs, as), bs);
    std::vector<uint8_t> cond(static_cast<size_t>(numel(cs)));
    for (size_t k = 0; k < cond.size(); ++k) cond[k] = (k * 7 + static_cast<size_t>(i)) % 3 == 0;
    const auto a = random_floats(static_cast<size_t>(numel(as)), 30 + i), b = random_floats(static_cast<size_t>(numel(bs)), 40 + i);
    std::vector<float> out(static_cast<size_t>(numel(os))), want(out.size());
    for (int64_t k = 0; k < numel(os); ++k)
      want[k] = cond[bcast_offset(os, cs, k)] ? a[bcast_offset(os, as, k)] : b[bcast_offset(os, bs, k)];
    where_select(cs, cond.data(), as, a.data(), bs, b.data(), out.data(), pool);
    EXPECT_EQ(out, want) << "case " << i;
    ++i;
  }
  const uint8_t c1 = 1;
  const float x = 1.0f;
  std::vector<float> o(2);
  EXPECT_THROW(where_select({2}, &c1, {3}, &x, {1}, &x, o.data(), pool), Error);
}

TEST(MemoryOps, Concat) {
  ThreadPool pool(2);
  using S = std::vector<int64_t>;
  for (int64_t axis : {1, 0, -1, 2}) {
    std::vector<S> shapes = {{2, 3, 5, 4}, {2, 3, 5, 4}, {2, 3, 5, 4}};
    const size_t ax = static_cast<size_t>(axis < 0 ? axis + 4 : axis);
    shapes[1][ax] = 1, shapes[2][ax] = 6;
    std::vector<std::vector<float>> data;
    std::vector<const float*> ptrs;
    for (size_t i = 0; i < shapes.size(); ++i) {
      int64_t n = 1;
      for (auto d : shapes[i]) n *= d;
      data.push_back(random_floats(static_cast<size_t>(n), 100 + static_cast<uint32_t>(i)));
    }
    for (auto& d : data) ptrs.push_back(d.data());
    S os = shapes[0];
    os[ax] = shapes[0][ax] + shapes[1][ax] + shapes[2][ax];
    std::vector<float> out(static_cast<size_t>(os[0] * os[1] * os[2] * os[3]));
    concat(ptrs, shapes, axis, out.data(), pool);
    // Check every element by its coordinates.
    for (int64_t i0 = 0; i0 < os[0]; ++i0)
      for (int64_t i1 = 0; i1 < os[1]; ++i1)
        for (int64_t i2 = 0; i2 < os[2]; ++i2)
          for (int64_t i3 = 0; i3 < os[3]; ++i3) {
            int64_t idx[4] = {i0, i1, i2, i3};
            size_t src = 0;
            while (idx[ax] >= shapes[src][ax]) idx[ax] -= shapes[src][ax], ++src;
            const S& s = shapes[src];
            const float want = data[src][((idx[0] * s[1] + idx[1]) * s[2] + idx[2]) * s[3] + idx[3]];
            ASSERT_EQ(out[((i0 * os[1] + i1) * os[2] + i2) * os[3] + i3], want) << "axis " << axis;
          }
  }
  EXPECT_THROW(concat({nullptr, nullptr}, {{1, 2}, {2, 2}}, 1, nullptr, pool), Error);
}

TEST(MemoryOps, ResizeNearest) {
  ThreadPool pool(2);
  struct C { int64_t h, w, oh, ow; };
  for (const auto& c : std::vector<C>{{7, 7, 14, 14}, {13, 5, 39, 15}, {7, 13, 10, 20}, {1, 1, 3, 2}, {8, 8, 4, 4}}) {
    const auto in = random_floats(static_cast<size_t>(2 * 3 * c.h * c.w), 110);
    std::vector<float> out(static_cast<size_t>(2 * 3 * c.oh * c.ow)), want(out.size());
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t y = 0; y < c.oh; ++y)
        for (int64_t x = 0; x < c.ow; ++x)
          want[(p * c.oh + y) * c.ow + x] =
              in[(p * c.h + static_cast<int64_t>(std::floor(y * (double)c.h / c.oh))) * c.w +
                 static_cast<int64_t>(std::floor(x * (double)c.w / c.ow))];
    resize_nearest(2, 3, c.h, c.w, c.oh, c.ow, in.data(), out.data(), pool);
    EXPECT_EQ(out, want) << c.h << "x" << c.w << " -> " << c.oh << "x" << c.ow;
  }
}

TEST(MemoryOps, ActivationInPlace) {
  ThreadPool pool(2);
  const auto x0 = random_floats(40000, 120, -8.0f, 8.0f);
  for (const auto& ep : testing::all_epilogues()) {
    std::vector<float> x(x0), want(x0);
    for (auto& v : want) v = apply_act(ep, v);
    activation_inplace(ep, x.data(), static_cast<int64_t>(x.size()), pool);
    EXPECT_LT(rel_error(x, want), 1e-5) << act_name(ep.act);
  }
}

}  // namespace
}  // namespace hilsim::kernels
