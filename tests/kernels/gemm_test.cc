// GEMM tester: the micro-kernel on partial tiles (mr < MR, nr < NR, accumulate, bias per row / column)
// and the gemm() operator over transposes, awkward sizes and every epilogue, for every ISA path.
#include "hilsim/kernels/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::all_epilogues;
using testing::random_floats;
using testing::rel_error;

class GemmTest : public ::testing::TestWithParam<Isa> {};

TEST_P(GemmTest, MicroKernelPartialTiles) {
  const GemmUkernel& uk = gemm_ukernel(GetParam());
  const size_t MR = uk.mr, NR = uk.nr, kc = 37;
  const auto a = random_floats(MR * kc, 1), b = random_floats(kc * NR, 2), br = random_floats(MR, 3),
             bc = random_floats(NR, 4), c0 = random_floats(MR * 40, 5);
  for (size_t mr : {size_t(1), size_t(2), size_t(3), size_t(4), MR - 3, MR - 1, MR})  // every row path
    // 8, 9, 24, 25: a 16-column half that ends within (AVX2: one 8 x 8 sub-tile) or past its first 8;
    // 25-32 with 5-8 rows: AVX2's two 4 x 24 sub-tiles and an 8 x 8 one.
    for (size_t nr : {size_t(1), size_t(8), size_t(9), size_t(15), size_t(16), size_t(17), size_t(24), size_t(25),
                      NR - 2, NR})
      for (int mode = 0; mode < 3; ++mode) {
        const bool accumulate = mode == 2;
        UkernelEpilogue ep;
        if (mode == 0) ep.bias_row = br.data();
        if (mode == 1) ep.bias_col = bc.data();
        ep.act.act = Act::kRelu;
        // Packed A rows >= mr must be zero (the packing contract).
        std::vector<float> ap(a);
        for (size_t k = 0; k < kc; ++k)
          for (size_t i = mr; i < MR; ++i) ap[k * MR + i] = 0.0f;
        std::vector<float> c(c0), want(c0);
        for (size_t i = 0; i < mr; ++i)
          for (size_t j = 0; j < nr; ++j) {
            double v = accumulate ? c0[i * 40 + j] : (mode == 0 ? br[i] : mode == 1 ? bc[j] : 0.0);
            for (size_t k = 0; k < kc; ++k) v += static_cast<double>(ap[k * MR + i]) * b[k * NR + j];
            want[i * 40 + j] = v > 0 ? static_cast<float>(v) : 0.0f;
          }
        uk.fn(mr, nr, kc, ap.data(), b.data(), c.data(), 40, accumulate, true, ep);
        EXPECT_LT(rel_error(c, want), 1e-5) << uk.name << " mr=" << mr << " nr=" << nr << " mode=" << mode;
      }
}

TEST_P(GemmTest, OperatorMatchesReference) {
  const Isa isa = GetParam();
  ThreadPool pool(2);
  const auto eps = all_epilogues();
  struct Case { int64_t m, n, k; bool ta, tb; };
  const std::vector<Case> cases = {{1, 1000, 512, false, true}, {7, 13, 1, false, false}, {13, 40, 300, true, false},
                                   {40, 7, 257, true, true},    {9, 33, 64, false, true}};
  int idx = 0;
  for (const auto& t : cases) {
    const int64_t lda = (t.ta ? t.m : t.k) + 3, ldb = (t.tb ? t.k : t.n) + 1, ldc = t.n + 2;
    const auto a = random_floats(static_cast<size_t>((t.ta ? t.k : t.m) * lda), 10 + idx);
    const auto b = random_floats(static_cast<size_t>((t.tb ? t.n : t.k) * ldb), 20 + idx);
    const auto bias = random_floats(static_cast<size_t>(t.n), 30 + idx);
    const Epilogue& ep = eps[static_cast<size_t>(idx) % eps.size()];
    std::vector<float> c(static_cast<size_t>(t.m * ldc), 0.0f), want(c);
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) {
        double v = bias[j];
        for (int64_t k = 0; k < t.k; ++k)
          v += static_cast<double>(t.ta ? a[k * lda + i] : a[i * lda + k]) * (t.tb ? b[j * ldb + k] : b[k * ldb + j]);
        want[i * ldc + j] = apply_act(ep, static_cast<float>(v));
      }
    gemm(t.m, t.n, t.k, a.data(), lda, t.ta, b.data(), ldb, t.tb, c.data(), ldc, bias.data(), ep, pool, isa);
    EXPECT_LT(rel_error(c, want), 1e-4) << "m=" << t.m << " n=" << t.n << " k=" << t.k << " act=" << act_name(ep.act);
    ++idx;
  }
}

TEST_P(GemmTest, ActivationSpanMatchesScalar) {
  const auto x0 = random_floats(1000, 9, -12.0f, 12.0f);
  for (const auto& ep : all_epilogues()) {
    std::vector<float> x(x0), want(x0);
    for (auto& v : want) v = apply_act(ep, v);
    apply_act_inplace(GetParam(), ep, x.data(), 997);  // odd length: vector tail
    want[997] = x0[997], want[998] = x0[998], want[999] = x0[999];
    EXPECT_LT(rel_error(x, want), 1e-5) << act_name(ep.act);
  }
}

// The fused sigmoid family against double-precision math, value by value, over the whole range where
// the result is not a denormal and at the extremes (no NaN or inf, SiLU of a huge negative is ~0).
TEST_P(GemmTest, SigmoidFamilyAccurateOverFullRange) {
  std::vector<float> x0;
  for (int i = -88 * 4096; i <= 88 * 4096; ++i) x0.push_back(static_cast<float>(i) / 4096.0f);
  const float big = std::numeric_limits<float>::max();
  for (float v : {88.3f, 88.7f, 89.0f, 100.0f, 1e4f, 3e6f, 1e10f, 1e30f, big, 1e-30f, 1e-42f})
    x0.push_back(v), x0.push_back(-v);
  for (Act act : {Act::kSigmoid, Act::kSiLU, Act::kHardSwish}) {
    Epilogue ep;
    ep.act = act;
    std::vector<float> x(x0);
    apply_act_inplace(GetParam(), ep, x.data(), static_cast<int64_t>(x.size()));
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x0[i];
      const double want = act == Act::kHardSwish ? v * std::clamp(v + 3.0, 0.0, 6.0) / 6.0
                          : act == Act::kSiLU    ? v / (1.0 + std::exp(-v))
                                                 : 1.0 / (1.0 + std::exp(-v));
      ASSERT_TRUE(std::isfinite(x[i])) << act_name(act) << "(" << x0[i] << ") = " << x[i];
      // 1e-30 absolute: below it the float results are denormals or flushed, as the clamp intends.
      const double err = std::fabs(x[i] - want) / (std::fabs(want) + 1e-30 / 1e-4);
      if (err > worst) worst = err, at = i;
    }
    EXPECT_LT(worst, 1e-4) << act_name(act) << " worst at x = " << x0[at] << ": " << x[at];
  }
}

// The ISA's im2col packing equals the generic one float for float (both only copy), zero tails
// included: strips that start mid-row and cross rows, pads on every side, stride 2 and dilation, K
// blocks that start and end inside a channel's taps, and the A-panel width (8).
TEST_P(GemmTest, Im2colMatchesGeneric) {
  using testing::conv_shape;
  if (GetParam() == Isa::kGeneric) GTEST_SKIP() << "the generic packing is the reference";
  const Im2colFn fn = im2col_fn(GetParam());
  std::vector<ConvShape> shapes = {
      conv_shape(5, 8, 13, 13, 3, 1, 1, 1, 1, 1),  conv_shape(4, 8, 9, 11, 3, 2, 1, 0, 1, 2),
      conv_shape(3, 8, 20, 20, 6, 2, 2, 2, 2, 2),  conv_shape(3, 8, 23, 23, 7, 2, 3, 3, 3, 3),
      conv_shape(4, 8, 7, 13, 3, 1, 2, 0, 1, 2, 2), conv_shape(6, 8, 40, 40, 1, 1, 0, 0, 0, 0),
      conv_shape(6, 8, 9, 9, 1, 2, 0, 0, 0, 0),    conv_shape(2, 8, 3, 3, 3, 1, 1, 1, 1, 1),
      conv_shape(3, 8, 2, 40, 5, 1, 2, 2, 2, 2),   conv_shape(2, 8, 31, 5, 3, 2, 0, 1, 1, 0),
  };
  for (const ConvShape& s : shapes) {
    const int64_t P = s.out_h() * s.out_w(), K = s.c * s.kh * s.kw;
    const auto in = random_floats(static_cast<size_t>(s.c * s.h * s.w), 9);
    for (int64_t nr_tile : {int64_t{8}, int64_t{32}})
      for (int64_t p0 : {int64_t{0}, int64_t{1}, int64_t{5}, P / 2, std::max<int64_t>(0, P - 3)})
        for (int64_t cols : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{17}, int64_t{32}}) {
          if (cols > nr_tile || p0 + cols > P) continue;
          for (const auto& [k0, kc] : {std::pair<int64_t, int64_t>{0, K}, {1, K - 2}, {K / 2, K - K / 2}}) {
            if (kc < 1) continue;
            std::vector<float> got(static_cast<size_t>(kc * nr_tile), NAN), want(got.size(), NAN);
            fn(s, in.data(), p0, cols, k0, kc, got.data(), nr_tile);
            f32_im2col_generic(s, in.data(), p0, cols, k0, kc, want.data(), nr_tile);
            ASSERT_EQ(got, want) << s.str() << " p0=" << p0 << " cols=" << cols << " k0=" << k0 << " kc=" << kc
                                 << " nr_tile=" << nr_tile;
          }
        }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmTest, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace hilsim::kernels
