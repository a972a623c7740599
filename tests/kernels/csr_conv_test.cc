// CSR sparse 1x1 conv tester: several ratios, strides 1 and 2, every ISA, 1 and 2 threads.
#include "hilsim/kernels/csr_conv.h"

#include <gtest/gtest.h>

#include "hilsim/kernels/masks.h"
#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using testing::all_epilogues;
using testing::conv_ref;
using testing::random_floats;
using testing::rel_error;

ConvShape make(int64_t c, int64_t f, int64_t h, int64_t w, int64_t s, int64_t n = 1) {
  ConvShape x;
  x.n = n, x.c = c, x.f = f, x.h = h, x.w = w, x.stride_h = x.stride_w = s;
  return x;
}

TEST(CsrConv, MatchesReference) {
  const std::vector<ConvShape> cases = {make(3, 5, 1, 1, 1), make(13, 19, 7, 7, 1), make(17, 33, 13, 13, 2),
                                        make(9, 12, 40, 40, 1), make(40, 7, 13, 7, 1, 2), make(8, 6, 40, 40, 2),
                                        make(200, 9, 7, 7, 1), make(300, 5, 13, 13, 2)};
  ThreadPool pool1(1), pool2(2);
  const auto eps = all_epilogues();
  uint32_t seed = 40;
  for (Isa isa : supported_isas())
    for (const auto& s : cases)
      for (double ratio : {0.0, 0.5, 0.9, 1.0}) {
        ++seed;
        const auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), seed);
        const auto w = random_floats(static_cast<size_t>(s.weight_count()), seed + 1, -0.5f, 0.5f);
        const auto bias = random_floats(static_cast<size_t>(s.f), seed + 2);
        const Epilogue& ep = eps[seed % eps.size()];
        const float* b = seed % 2 ? bias.data() : nullptr;
        const auto m = csr_mask(w.data(), s.weight_count(), ratio);
        auto conv = prepare_csr_conv(s, w.data(), b, ep, m.keep, isa);
        std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), NAN);
        conv->run(in.data(), out.data(), seed % 2 ? pool2 : pool1);
        EXPECT_LT(rel_error(out, conv_ref(s, in, masked_weights(w.data(), m.keep), b, ep)), 1e-4)
            << s.str() << " ratio " << ratio << " kernel=" << conv->kernel_name();
        const int64_t nnz = s.weight_count() - m.pruned_units;
        EXPECT_EQ(conv->executed_macs(), nnz * s.n * s.out_h() * s.out_w());
        EXPECT_EQ(conv->weight_bytes(), nnz * 8 + (s.f + 1) * 4 + s.f * 4);
      }
}

TEST(CsrConv, CsrMatrixAndErrors) {
  const std::vector<float> w = {1, 0, 2, 3, 4, 5};
  const std::vector<uint8_t> keep = {1, 0, 1, 0, 0, 1};
  const CsrMatrix m = make_csr(2, 3, w.data(), keep);
  EXPECT_EQ(m.row_ptr, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(m.col_idx, (std::vector<int32_t>{0, 2, 2}));
  EXPECT_EQ(m.values, (std::vector<float>{1, 2, 5}));

  ConvShape s = make(3, 2, 7, 7, 1);
  EXPECT_NO_THROW(prepare_csr_conv(s, w.data(), nullptr, {}, keep));
  EXPECT_THROW(prepare_csr_conv(s, w.data(), nullptr, {}, std::vector<uint8_t>(5, 1)), Error);
  ConvShape k3 = s;
  k3.kh = k3.kw = 3;
  EXPECT_THROW(prepare_csr_conv(k3, w.data(), nullptr, {}, std::vector<uint8_t>(54, 1)), Error);
  ConvShape padded = s;
  padded.pad_top = 1;
  EXPECT_THROW(prepare_csr_conv(padded, w.data(), nullptr, {}, keep), Error);
}

}  // namespace
}  // namespace hilsim::kernels
