// Packed-weights file: round trip, refusal of older versions, and the one storage formula: for every
// sparse format on odd layer shapes, the weight bytes the cost model predicts (conv_footprint), the
// prepared kernel holds and the packed file stores are the same number.
#include "hilsim/partition/packed_model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "hilsim/model/instances.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/util/error.h"
#include "partition/partition_testing.h"
#include "util/expect_error.h"

namespace hilsim::partition {
namespace {

kernels::ConvShape conv(int64_t c, int64_t f, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad) {
  kernels::ConvShape s;
  s.c = c, s.f = f, s.h = h, s.w = w, s.kh = s.kw = k, s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = pad, s.pad_bottom = 0, s.pad_right = pad ? 1 : 0;
  return s;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  const char* format;
  int bf, bc, entries;
  double ratio;
};

TEST(PackedModel, WeightBytesAreOneFormulaForCostModelKernelAndFile) {
  // Odd filter counts, strides and pads; channel counts are multiples of bc (the cost model cannot
  // know which edge blocks a mask keeps) and 32-filter blocks get a multiple of 32 filters.
  const std::vector<kernels::ConvShape> shapes = {conv(24, 37, 13, 11, 3, 2, 1), conv(40, 29, 9, 9, 1, 1, 0),
                                                  conv(16, 64, 7, 7, 3, 1, 1), conv(8, 5, 5, 7, 3, 1, 1)};
  const std::vector<Case> cases = {{"block", 8, 4, 2, 0.7},     {"block", 4, 8, 2, 0.5},  {"block", 32, 4, 2, 0.6},
                                   {"block", 16, 2, 2, 0.9},    {"block_col", 8, 4, 2, 0.7}, {"block_col", 32, 1, 2, 0.5},
                                   {"block_col", 1, 1, 2, 0.3}, {"pattern", 8, 4, 2, 0.0},  {"pattern", 8, 4, 3, 0.0},
                                   {"csr", 8, 4, 2, 0.9},       {"csr", 8, 4, 2, 0.35}};
  uint32_t seed = 1;
  int checked = 0;
  for (const auto& s : shapes)
    for (const Case& c : cases) {
      const std::string fmt = c.format;
      if (fmt == "block" && s.c % c.bc) continue;
      if (c.bf == 32 && s.f % 32) continue;
      if (fmt == "csr" && s.kh != 1) continue;
      kernels::SparseFormat f;
      f.kind = fmt == "block"       ? kernels::SparseKind::kBlock
               : fmt == "block_col" ? kernels::SparseKind::kBlockCol
               : fmt == "pattern"   ? kernels::SparseKind::kPattern
                                    : kernels::SparseKind::kCsr;
      f.bf = c.bf, f.bc = c.bc, f.entries = c.entries, f.ratio = c.ratio;
      const auto w = random_floats(static_cast<size_t>(s.weight_count()), ++seed);
      const auto bias = random_floats(static_cast<size_t>(s.f), ++seed);
      const kernels::PruneMask m = kernels::format_mask(s, w.data(), f);
      PackedConv pc;
      pc.op = "conv";
      pc.label = f.name();
      pc.rows = kernels::pack_sparse_rows(s, w.data(), m.keep, f.row_height());
      pc.bias = bias;
      const auto k = kernels::prepare_sparse_conv(kernels::ConvDesc{s, {}, f}, pc.rows, bias.data());
      const auto fp = model::conv_footprint(s, fmt, c.ratio, c.bf, c.bc, c.entries, true);
      const std::string what = fmt + " " + f.name() + " ratio " + std::to_string(c.ratio) + " on " + s.str();
      EXPECT_EQ(k->weight_bytes(), pc.rows.storage_bytes() + 4 * s.f) << what;
      EXPECT_EQ(file_weight_bytes(pc), k->weight_bytes()) << what;
      EXPECT_EQ(fp.weight_bytes, k->weight_bytes()) << what;
      ++checked;
    }
  EXPECT_GE(checked, 25);
}

TEST(PackedModel, RoundTripAndOlderVersionsAreRefused) {
  const auto s = conv(8, 12, 7, 7, 3, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 3);
  kernels::SparseFormat f;
  f.bf = 4, f.bc = 4, f.ratio = 0.5;
  PackedModel m;
  m.fingerprint = "abc";
  PackedConv pc;
  pc.op = "c1";
  pc.label = f.name();
  pc.rows = kernels::pack_sparse_rows(s, w.data(), kernels::format_mask(s, w.data(), f).keep, 4);
  pc.bias.assign(12, 0.5f);
  m.convs.push_back(pc);
  const std::string bytes = serialize_packed(m);
  const PackedModel back = parse_packed(bytes, "w.hpk");
  ASSERT_EQ(back.convs.size(), 1u);
  EXPECT_EQ(back.convs[0].label, "block_4x4");
  EXPECT_EQ(back.convs[0].rows.row_begin, pc.rows.row_begin);
  EXPECT_EQ(back.convs[0].rows.cols, pc.rows.cols);
  EXPECT_EQ(back.convs[0].rows.values, pc.rows.values);
  EXPECT_EQ(back.convs[0].rows.order, pc.rows.order);
  // A version-1 file (64-bit offsets) names its version and says what to do.
  std::string v1 = bytes;
  const uint32_t one = 1;
  std::memcpy(&v1[8], &one, 4);
  expect_error([&] { parse_packed(v1, "w.hpk"); }, {"version 1", "emit"});
}

}  // namespace
}  // namespace hilsim::partition
