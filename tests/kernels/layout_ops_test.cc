// Data-movement kernels against plain index loops on odd shapes: transposes of rank 2..6 (with and
// without a moved innermost dim), slices with negative steps, pads in every mode, negative pads.
#include "hilsim/kernels/layout_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using S = std::vector<int64_t>;
using testing::random_floats;

int64_t numel(const S& s) { return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()); }

S strides(const S& s) {
  S st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

S unravel(int64_t i, const S& s) {
  S idx(s.size());
  for (size_t d = s.size(); d-- > 0;) idx[d] = i % s[d], i /= s[d];
  return idx;
}

std::vector<float> transpose_ref(const S& in_shape, const S& perm, const std::vector<float>& x) {
  S os;
  for (int64_t p : perm) os.push_back(in_shape[p]);
  const S st = strides(in_shape);
  std::vector<float> out(static_cast<size_t>(numel(os)));
  for (int64_t i = 0; i < numel(os); ++i) {
    const S oi = unravel(i, os);
    int64_t src = 0;
    for (size_t d = 0; d < os.size(); ++d) src += oi[d] * st[perm[d]];
    out[i] = x[src];
  }
  return out;
}

TEST(LayoutOps, TransposeEqualsIndexLoop) {
  ThreadPool pool(2);
  const std::vector<std::pair<S, S>> cases = {
      {{1, 7, 13, 5}, {0, 2, 3, 1}},           {{1, 7, 13, 5}, {0, 3, 1, 2}},  {{1, 2, 58, 7, 7}, {0, 2, 1, 3, 4}},
      {{37, 45}, {1, 0}},                      {{3, 5, 7, 2, 3, 4}, {5, 3, 1, 0, 2, 4}},
      {{1, 64, 33, 35}, {0, 1, 3, 2}},         {{2, 3, 4}, {}},  {{1, 1, 9, 1}, {3, 2, 1, 0}}};
  int k = 0;
  for (const auto& [shape, perm] : cases) {
    S p = perm;
    if (p.empty())
      for (size_t i = shape.size(); i-- > 0;) p.push_back(static_cast<int64_t>(i));
    const auto x = random_floats(static_cast<size_t>(numel(shape)), 10 + k++);
    std::vector<float> out(x.size(), -7.0f);
    strided_copy(make_transpose(shape, perm), x.data(), out.data(), pool);
    EXPECT_EQ(out, transpose_ref(shape, p, x)) << "case " << k;
  }
  EXPECT_THROW(make_transpose({2, 3}, {0, 0}), Error);
}

TEST(LayoutOps, SliceWithStepsAndNegativeStepsEqualsIndexLoop) {
  ThreadPool pool(2);
  struct C { S shape, starts, steps, out; };
  const std::vector<C> cases = {
      {{1, 7, 13, 5}, {0, 2, 0, 0}, {1, 1, 1, 1}, {1, 3, 13, 5}},    // channel split
      {{1, 7, 13, 5}, {0, 6, 12, 4}, {1, -2, -3, -1}, {1, 4, 5, 5}},  // reversed with steps
      {{1, 7, 13, 5}, {0, 0, 1, 1}, {1, 1, 2, 2}, {1, 7, 6, 2}},     // space-to-depth style
      {{1, 116, 9, 9}, {0, 58, 0, 0}, {1, 1, 1, 1}, {1, 58, 9, 9}},
      {{40000}, {3}, {1}, {39990}}};
  int k = 0;
  for (const auto& c : cases) {
    const auto x = random_floats(static_cast<size_t>(numel(c.shape)), 30 + k++);
    std::vector<float> out(static_cast<size_t>(numel(c.out)), -7.0f), want(out.size());
    const S st = strides(c.shape);
    for (int64_t i = 0; i < numel(c.out); ++i) {
      const S oi = unravel(i, c.out);
      int64_t src = 0;
      for (size_t d = 0; d < oi.size(); ++d) src += (c.starts[d] + oi[d] * c.steps[d]) * st[d];
      want[i] = x[src];
    }
    strided_copy(make_slice(c.shape, c.starts, c.steps, c.out), x.data(), out.data(), pool);
    EXPECT_EQ(out, want) << "case " << k;
  }
  EXPECT_THROW(make_slice({4}, {2}, {1}, {3}), Error);
}

std::vector<float> pad_ref(const PadShape& s, const std::vector<float>& x) {
  const S os = s.out_shape(), st = strides(s.in_shape);
  const size_t r = os.size();
  std::vector<float> out(static_cast<size_t>(numel(os)));
  for (int64_t i = 0; i < numel(os); ++i) {
    const S oi = unravel(i, os);
    int64_t src = 0;
    bool outside = false;
    for (size_t d = 0; d < r; ++d) {
      int64_t v = oi[d] - s.pads[d];
      const int64_t n = s.in_shape[d];
      if (v < 0 || v >= n) {
        if (s.mode == PadMode::kConstant) outside = true;
        else if (s.mode == PadMode::kEdge || n == 1) v = std::clamp<int64_t>(v, 0, n - 1);
        else v = v < 0 ? -v : 2 * (n - 1) - v;
      }
      src += v * st[d];
    }
    out[i] = outside ? s.value : x[src];
  }
  return out;
}

TEST(LayoutOps, PadEveryModeEqualsIndexLoop) {
  ThreadPool pool(2);
  const std::vector<std::pair<S, S>> cases = {
      {{1, 7, 13, 5}, {0, 0, 1, 2, 0, 0, 3, 1}}, {{1, 7, 13, 5}, {0, 1, 2, 4, 0, 2, 0, 4}},
      {{2, 3, 6, 9}, {0, 0, 0, 3, 0, 0, 5, 0}},  {{1, 3, 1, 7}, {0, 0, 2, 2, 0, 0, 2, 2}},
      {{11}, {3, 2}}};
  int k = 0;
  for (PadMode mode : {PadMode::kConstant, PadMode::kReflect, PadMode::kEdge})
    for (const auto& [shape, pads] : cases) {
      PadShape s;
      s.in_shape = shape, s.pads = pads, s.mode = mode, s.value = 0.25f;
      const auto x = random_floats(static_cast<size_t>(numel(shape)), 50 + k++);
      std::vector<float> out(static_cast<size_t>(numel(s.out_shape())), -7.0f);
      pad(s, x.data(), out.data(), pool);
      EXPECT_EQ(out, pad_ref(s, x)) << "mode " << static_cast<int>(mode) << " case " << k;
    }
  // Negative pads crop.
  PadShape crop;
  crop.in_shape = {1, 7, 13, 5}, crop.pads = {0, 0, -2, 1, 0, -1, 0, -3};
  const auto x = random_floats(static_cast<size_t>(numel(crop.in_shape)), 99);
  std::vector<float> out(static_cast<size_t>(numel(crop.out_shape())));
  pad(crop, x.data(), out.data(), pool);
  EXPECT_EQ(out, pad_ref(crop, x));
  PadShape bad;
  bad.in_shape = {1, 3, 4, 4}, bad.pads = {0, 0, 4, 0, 0, 0, 0, 0}, bad.mode = PadMode::kReflect;
  EXPECT_THROW(bad.validate(), Error);
  EXPECT_THROW(pad_mode_of("wrap"), Error);
}

}  // namespace
}  // namespace hilsim::kernels
