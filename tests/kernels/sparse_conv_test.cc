// Sparse engine tester, one for the whole family: every format (block, block_col, pattern 2/3, csr,
// detected) x awkward shapes x ISAs x threads x epilogues, against the plain reference conv on the
// mask-zeroed weights; plus the packed format's rules (row heights, order, storage bytes, validation).
#include "hilsim/kernels/sparse_conv.h"

#include <gtest/gtest.h>

#include <numeric>

#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/util/error.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels {
namespace {

using namespace testing;  // the shared shapes, data and reference conv (kernel_test_util.h)

SparseFormat block(int bf, int bc, double ratio, bool col = false) {
  SparseFormat f;
  f.kind = col ? SparseKind::kBlockCol : SparseKind::kBlock;
  f.bf = bf, f.bc = bc, f.ratio = ratio;
  return f;
}
SparseFormat pattern(int entries) {
  SparseFormat f;
  f.kind = SparseKind::kPattern, f.entries = entries;
  return f;
}
SparseFormat csr(double ratio) {
  SparseFormat f;
  f.kind = SparseKind::kCsr, f.ratio = ratio;
  return f;
}

// Builder-style tester (as XNNPACK's): set what differs, run() checks every ISA and 1 / 2 threads.
class SparseConvTester {
 public:
  SparseConvTester& shape(const ConvShape& s) { s_ = s; return *this; }
  SparseConvTester& format(const SparseFormat& f) { f_ = f; return *this; }
  SparseConvTester& epilogue(const Epilogue& e) { ep_ = e; return *this; }
  SparseConvTester& bias(bool b) { bias_ = b; return *this; }
  SparseConvTester& seed(uint32_t s) { seed_ = s; return *this; }

  void run() const {
    const auto in = random_floats(static_cast<size_t>(s_.n * s_.c * s_.h * s_.w), seed_);
    const auto w = random_floats(static_cast<size_t>(s_.weight_count()), seed_ + 1, -0.5f, 0.5f);
    const auto bias = random_floats(static_cast<size_t>(s_.f), seed_ + 2);
    const float* b = bias_ ? bias.data() : nullptr;
    const PruneMask m = format_mask(s_, w.data(), f_);
    const auto want = conv_ref(s_, in, apply_mask(m, w.data(), s_.weight_count()), b, ep_);
    const SparseRows rows = pack_sparse_rows(s_, w.data(), m.keep, f_.row_height());
    const int64_t kept = std::count(m.keep.begin(), m.keep.end(), uint8_t{1});
    ThreadPool one(1), two(2);
    for (Isa isa : supported_isas()) {
      auto conv = prepare_sparse_conv(ConvDesc{s_, ep_, f_}, rows, b, isa);
      EXPECT_EQ(conv->kernel_name(), f_.name() + "_" + isa_name(isa));
      EXPECT_EQ(conv->executed_macs(), kept * s_.n * s_.out_h() * s_.out_w());
      EXPECT_EQ(conv->weight_bytes(), rows.storage_bytes() + (bias_ ? 4 * s_.f : 0));
      for (ThreadPool* pool : {&one, &two}) {
        std::vector<float> got(want.size(), NAN);
        conv->run(in.data(), got.data(), *pool);
        EXPECT_LT(rel_error(got, want), 1e-4) << conv->kernel_name() << " " << s_.str() << " ratio " << f_.ratio
                                              << " act " << act_name(ep_.act) << " threads " << pool->threads();
      }
    }
  }

 private:
  ConvShape s_;
  SparseFormat f_;
  Epilogue ep_;
  bool bias_ = true;
  uint32_t seed_ = 1;
};

std::vector<ConvShape> odd_shapes() {
  ConvShape ns = conv_shape(4, 6, 7, 9, 3, 1, 1, 0, 1, 2);  // different strides and kernel sizes per axis
  ns.stride_w = 2;
  ns.kw = 2;
  return {
      conv_shape(5, 7, 7, 7, 3, 1, 1, 1, 1, 1),
      conv_shape(13, 19, 13, 13, 3, 2, 0, 1, 1, 0),    // stride 2, asymmetric pads
      conv_shape(6, 9, 1, 1, 3, 1, 1, 1, 1, 1),        // 1x1 image: only the centre tap
      conv_shape(9, 12, 40, 40, 1, 1, 0, 0, 0, 0),     // 1x1 read in place, partial last tile
      conv_shape(10, 11, 13, 13, 1, 2, 0, 0, 0, 0),    // strided 1x1
      conv_shape(4, 33, 7, 13, 3, 1, 2, 2, 2, 2, 2),   // dilation 2, F past a 32-filter block
      conv_shape(5, 8, 7, 7, 3, 1, 1, 1, 1, 1, 1, 1, 2),  // batch 2
      conv_shape(3, 5, 13, 13, 5, 2, 2, 2, 2, 2),      // 5x5 stride 2
      conv_shape(17, 20, 40, 40, 3, 1, 1, 1, 1, 1),    // many tiles
      conv_shape(130, 37, 13, 13, 3, 1, 1, 1, 1, 1),   // input tile past L1: channel chunks (rows of 1, 8, 16)
      conv_shape(200, 9, 7, 7, 1, 1, 0, 0, 0, 0),      // chunked 1x1 read in place
      conv_shape(150, 10, 13, 13, 3, 2, 1, 0, 0, 1),   // chunked, stride 2
      ns,
  };
}

TEST(SparseConv, BlockFormatsOverShapesRatiosAndEpilogues) {
  const auto eps = all_epilogues();
  uint32_t seed = 1;
  for (const ConvShape& s : odd_shapes())
    for (double ratio : {0.0, 0.5, 0.9, 1.0})
      for (auto [bf, bc] : {std::pair{8, 4}, std::pair{32, 16}, std::pair{1, 1}, std::pair{16, 2}}) {
        ++seed;
        SparseConvTester().shape(s).format(block(bf, bc, ratio, seed % 3 == 0)).epilogue(eps[seed % eps.size()])
            .bias(seed % 2).seed(seed).run();
      }
}

TEST(SparseConv, EveryBlockSizeBothUnits) {
  uint32_t seed = 500;
  for (const ConvShape& s : {conv_shape(7, 37, 7, 7, 3, 1, 1, 1, 1, 1), conv_shape(19, 9, 7, 13, 1, 1, 0, 0, 0, 0)})
    for (int bf : {1, 2, 4, 8, 16, 32})
      for (int bc : {1, 2, 4, 8, 16})
        for (bool col : {false, true}) SparseConvTester().shape(s).format(block(bf, bc, 0.6, col)).seed(++seed).run();
}

TEST(SparseConv, PatternTwoAndThreeEntries3x3And1x1) {
  const auto eps = all_epilogues();
  uint32_t seed = 20;
  for (const ConvShape& s : {conv_shape(5, 7, 7, 7, 3, 1, 1, 1, 1, 1), conv_shape(13, 9, 13, 13, 3, 2, 0, 1, 1, 0),
                             conv_shape(6, 4, 1, 1, 3, 1, 1, 1, 1, 1), conv_shape(4, 6, 40, 40, 3, 1, 1, 1, 1, 1),
                             conv_shape(3, 5, 7, 13, 3, 1, 2, 2, 2, 2, 2), conv_shape(5, 3, 7, 7, 3, 1, 1, 1, 1, 1, 1, 1, 2),
                             conv_shape(20, 7, 13, 13, 1, 1, 0, 0, 0, 0),   // two groups of 9 + a pruned tail of 2
                             conv_shape(27, 6, 13, 7, 1, 2, 0, 0, 0, 0)})  // strided 1x1
    for (int e : {2, 3}) {
      ++seed;
      SparseConvTester().shape(s).format(pattern(e)).epilogue(eps[seed % eps.size()]).bias(seed % 2).seed(seed).run();
    }
}

TEST(SparseConv, CsrOneByOne) {
  uint32_t seed = 40;
  for (const ConvShape& s : {conv_shape(37, 29, 13, 13, 1, 1, 0, 0, 0, 0), conv_shape(16, 8, 40, 40, 1, 2, 0, 0, 0, 0),
                             conv_shape(200, 9, 7, 7, 1, 1, 0, 0, 0, 0)})
    for (double ratio : {0.0, 0.5, 0.9, 1.0}) SparseConvTester().shape(s).format(csr(ratio)).seed(++seed).run();
}

TEST(SparseConv, DetectedRowsRunWhatTheZerosAllow) {
  const ConvShape s = conv_shape(9, 21, 9, 9, 3, 1, 1, 1, 1, 1);
  const auto in = random_floats(static_cast<size_t>(s.c * s.h * s.w), 3);
  auto w = random_floats(static_cast<size_t>(s.weight_count()), 4);
  const PruneMask m = block_mask(s, w.data(), 8, 4, 0.7, false);
  w = apply_mask(m, w.data(), s.weight_count());
  std::vector<uint8_t> keep(w.size());
  for (size_t i = 0; i < w.size(); ++i) keep[i] = w[i] != 0.0f;
  SparseFormat f;
  f.kind = SparseKind::kDetected, f.bf = 8;
  auto conv = prepare_sparse_conv(ConvDesc{s, {}, f}, pack_sparse_rows(s, w.data(), keep, 8), nullptr);
  EXPECT_EQ(conv->kernel_name().rfind("detected_rows8_", 0), 0u);
  std::vector<float> got(static_cast<size_t>(s.f * s.out_h() * s.out_w()));
  ThreadPool pool(2);
  conv->run(in.data(), got.data(), pool);
  EXPECT_LT(rel_error(got, conv_ref(s, in, w, nullptr, {})), 1e-4);
}

TEST(SparseConv, AllPrunedOutputsActOfBias) {
  const ConvShape s = conv_shape(6, 10, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 7);
  const auto bias = random_floats(static_cast<size_t>(s.f), 8);
  const auto in = random_floats(static_cast<size_t>(s.c * s.h * s.w), 9);
  Epilogue ep;
  ep.act = Act::kRelu;
  ThreadPool pool(2);
  const SparseFormat f = block(8, 4, 1.0);
  const PruneMask m = format_mask(s, w.data(), f);
  for (Isa isa : supported_isas()) {
    auto conv = prepare_sparse_conv(ConvDesc{s, ep, f}, pack_sparse_rows(s, w.data(), m.keep, 8), bias.data(), isa);
    std::vector<float> out(static_cast<size_t>(s.f * 49), NAN);
    conv->run(in.data(), out.data(), pool);
    for (int64_t o = 0; o < s.f; ++o)
      for (int p = 0; p < 49; ++p) ASSERT_EQ(out[static_cast<size_t>(o * 49 + p)], std::max(0.0f, bias[o]));
    EXPECT_EQ(conv->executed_macs(), 0);
  }
}

TEST(SparseRowsFormat, RowHeightsOrderAndBytes) {
  // One set of row heights: the micro-kernel heights; a 32-filter block packs as two 16-filter rows.
  for (int fb : {1, 2, 4, 8, 16}) EXPECT_TRUE(row_height_supported(fb));
  for (int fb : {0, 3, 32}) EXPECT_FALSE(row_height_supported(fb));
  EXPECT_EQ(block(32, 4, 0.5).row_height(), 16);
  EXPECT_EQ(block(8, 4, 0.5, true).row_height(), 8);
  EXPECT_EQ(pattern(3).row_height(), 1);
  EXPECT_EQ(csr(0.9).row_height(), 1);

  const ConvShape s = conv_shape(11, 21, 5, 5, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 5);
  const PruneMask m = block_mask(s, w.data(), 4, 2, 0.6, false);
  const SparseRows r = pack_sparse_rows(s, w.data(), m.keep, 4);
  ASSERT_EQ(r.rows(), 6);
  // order: a permutation, longest rows first, ties in row order.
  for (size_t i = 1; i < r.order.size(); ++i) {
    const int64_t a = r.row_begin[r.order[i - 1] + 1] - r.row_begin[r.order[i - 1]];
    const int64_t b = r.row_begin[r.order[i] + 1] - r.row_begin[r.order[i]];
    EXPECT_TRUE(a > b || (a == b && r.order[i - 1] < r.order[i]));
  }
  EXPECT_EQ(r.kept_weights(), std::count(m.keep.begin(), m.keep.end(), uint8_t{1}));
  EXPECT_EQ(stored_columns(s, m.keep, 4), static_cast<int64_t>(r.cols.size()));
  // values fb x 4 + int32 index per stored column, int32 offsets (rows + 1) and order (rows).
  EXPECT_EQ(r.storage_bytes(), static_cast<int64_t>(r.cols.size()) * (4 * 4 + 4) + 7 * 4 + 6 * 4);
  EXPECT_EQ(sparse_weight_bytes(6, static_cast<int64_t>(r.cols.size()), 4), r.storage_bytes());
}

TEST(SparseRowsFormat, NamesRoundTrip) {
  for (const SparseFormat& f : {block(8, 4, 0.5), block(32, 16, 0.5, true), pattern(2), pattern(3), csr(0.9)}) {
    const SparseFormat g = SparseFormat::from_name(f.name(), "test");
    EXPECT_EQ(g.name(), f.name());
    EXPECT_EQ(g.row_height(), f.row_height());
  }
  EXPECT_EQ(block(8, 4, 0.5).name(), "block_8x4");
  EXPECT_EQ(block(8, 4, 0.5, true).name(), "block_col_8x4");
  EXPECT_EQ(pattern(2).name(), "pattern_2ep");
  EXPECT_EQ(csr(0.5).name(), "csr_1x1");
  for (const char* bad : {"block_punched_8x4", "block_8", "pattern_ep", "csr_conv1x1", "dense", "block_8x4x"})
    EXPECT_THROW(SparseFormat::from_name(bad, "test"), Error) << bad;
}

TEST(SparseRowsFormat, BadRowsAndDescriptorsAreErrors) {
  const ConvShape s = conv_shape(8, 16, 7, 7, 3, 1, 1, 1, 1, 1);
  const auto w = random_floats(static_cast<size_t>(s.weight_count()), 3);
  const SparseFormat f = block(8, 4, 0.5);
  const PruneMask m = format_mask(s, w.data(), f);
  const SparseRows good = pack_sparse_rows(s, w.data(), m.keep, 8);
  const ConvDesc d{s, {}, f};
  EXPECT_NO_THROW(prepare_sparse_conv(d, good, nullptr));

  ConvDesc g = d;
  g.shape.groups = 2;
  EXPECT_THROW(prepare_sparse_conv(g, good, nullptr), Error);
  ConvDesc other = d;
  other.shape.c = 9;
  EXPECT_THROW(prepare_sparse_conv(other, good, nullptr), Error);
  ConvDesc taller = d;
  taller.sparse.bf = 16;  // rows of 8 under a format that packs 16
  EXPECT_THROW(prepare_sparse_conv(taller, good, nullptr), Error);

  auto broken = [&](auto edit) {
    SparseRows r = good;
    edit(r);
    return r;
  };
  EXPECT_THROW(prepare_sparse_conv(d, broken([](SparseRows& r) { r.values.pop_back(); }), nullptr), Error);
  EXPECT_THROW(prepare_sparse_conv(d, broken([](SparseRows& r) { r.cols[0] = 9999; }), nullptr), Error);
  EXPECT_THROW(prepare_sparse_conv(d, broken([](SparseRows& r) { r.order[0] = r.order[1]; }), nullptr), Error);
  EXPECT_THROW(prepare_sparse_conv(d, broken([](SparseRows& r) { r.order.pop_back(); }), nullptr), Error);
  EXPECT_THROW(prepare_sparse_conv(d, broken([](SparseRows& r) { r.row_begin[1] = r.row_begin[2] + 1; }), nullptr),
               Error);
  EXPECT_THROW(pack_sparse_rows(s, w.data(), m.keep, 3), Error);
  EXPECT_THROW(pack_sparse_rows(s, w.data(), m.keep, 32), Error);
  EXPECT_THROW(pack_sparse_rows(s, w.data(), std::vector<uint8_t>(5, 1), 8), Error);
  // The packing call the calibration runner uses: label and row height must agree.
  EXPECT_NO_THROW(prepare_sparse_conv(s, w.data(), nullptr, {}, m.keep, 8, "block_8x4"));
  EXPECT_THROW(prepare_sparse_conv(s, w.data(), nullptr, {}, m.keep, 4, "block_8x4"), Error);
  EXPECT_THROW(prepare_sparse_conv(s, w.data(), nullptr, {}, m.keep, 8, "block_punched_8x4"), Error);
}

// The pure name of every format (what the cost model reports for another machine) is the prepared
// kernel's on every path this CPU runs.
// The tiling rule the engine and the cost model share: rows of 8 take 48-pixel tiles unless a small
// plane would compute over 5% more lanes than with 32; one-filter rows 128 once the span fills them.
TEST(SparseTiling, WidthPlanesAndChunks) {
  const ConvShape big = conv_shape(64, 64, 56, 56, 3, 1, 1, 1, 1, 1);
  SparseTiling t = sparse_tiling(big, 8);
  EXPECT_FALSE(t.direct);
  EXPECT_EQ(t.wq, 58);
  EXPECT_EQ(t.span, 55 * 58 + 56);
  EXPECT_EQ(t.width, 48);
  EXPECT_EQ(t.tiles, (t.span + 47) / 48);
  // 7x7 padded: span 61 is two tiles either way, 96 lanes at 48 against 64 at 32.
  EXPECT_EQ(sparse_tiling(conv_shape(512, 512, 7, 7, 3, 1, 1, 1, 1, 1), 8).width, 32);
  EXPECT_EQ(sparse_tiling(big, 1).width, 128);
  EXPECT_EQ(sparse_tiling(big, 4).width, col_tile_width(4));
  // 1x1 stride 1 unpadded reads in place: 48 floats per channel, 28 KiB -> at most 149 channels per
  // chunk, so 3 equal chunks of 100 (not 149, 149, 2).
  const SparseTiling d = sparse_tiling(conv_shape(300, 16, 12, 8, 1, 1, 0, 0, 0, 0), 8);
  EXPECT_TRUE(d.direct);
  EXPECT_EQ(d.width, 48);
  EXPECT_EQ(d.chunk_c, 100);
  EXPECT_EQ(d.chunks, 3);
  // Padded 3x3: per channel the tile's 48 lanes plus the window's reach, 2 rows of 82 and 2 columns
  // (214 floats): all 32 channels of an 80x80 layer fit one chunk, 64 of a 56x56 one take two.
  EXPECT_EQ(sparse_tiling(conv_shape(32, 32, 80, 80, 3, 1, 1, 1, 1, 1), 8).chunks, 1);
  EXPECT_EQ(sparse_tiling(big, 8).chunks, 2);
  EXPECT_EQ(sparse_tiling(big, 8).chunk_c, 32);
  // Every width the rule picks has a kernel on every ISA.
  for (int fb : {1, 2, 4, 8, 16})
    for (const ConvShape& s : {big, conv_shape(300, 16, 12, 8, 1, 1, 0, 0, 0, 0)}) {
      const int w = sparse_tiling(s, fb).width;
      EXPECT_NE(col_tile_generic(fb, w), nullptr) << fb << " " << w;
#if defined(__x86_64__)
      EXPECT_NE(col_tile_avx2(fb, w), nullptr) << fb << " " << w;
      EXPECT_NE(col_tile_avx512(fb, w), nullptr) << fb << " " << w;
#endif
    }
}

// 48-pixel tiles of 8-filter rows where they meet channel chunks, row ends inside a vector (the fused
// store's lane compress) and a masked in-place tail.
TEST(SparseConv, WideTilesOfEightFilterRows) {
  uint32_t seed = 900;
  const auto eps = all_epilogues();
  for (const ConvShape& s : {conv_shape(300, 16, 12, 8, 1, 1, 0, 0, 0, 0),      // in place, 3 chunks
                             conv_shape(150, 19, 3, 14, 3, 1, 1, 1, 1, 1),      // padded, chunks, F % 8 != 0
                             conv_shape(24, 16, 12, 11, 1, 1, 0, 0, 0, 0),      // in place, partial last tile
                             conv_shape(16, 24, 29, 29, 3, 2, 1, 1, 1, 1),      // stride 2, odd width
                             conv_shape(12, 8, 20, 5, 3, 1, 1, 1, 1, 1)}) {     // several rows per vector
    ASSERT_EQ(sparse_tiling(s, 8).width, 48) << s.str();
    for (double ratio : {0.0, 0.8}) {
      ++seed;
      SparseConvTester().shape(s).format(block(8, 4, ratio)).epilogue(eps[seed % eps.size()]).seed(seed).run();
    }
  }
}

// In-place 1x1 rows whose last tile ends at every vector of a sub-tile (rows of 8 filters at 32 and 48
// pixels: AVX2 sub-tiles of 3 or 4 vectors, the first or the second sub-tile cut short; rows of 16 at
// 16; F % fb != 0): masked loads in a partial sub-tile, none past it, and the fused store writes only
// the valid lanes.
TEST(SparseConv, InPlaceTailsOfEveryLength) {
  uint32_t seed = 950;
  const auto eps = all_epilogues();
  for (auto [span, width] : {std::pair{3, 32}, {9, 32}, {17, 32}, {25, 32}, {289, 48}, {299, 48}, {307, 48},
                             {313, 48}, {335, 48}}) {
    const ConvShape s = conv_shape(12, 20, 1, span, 1, 1, 0, 0, 0, 0);
    ASSERT_EQ(sparse_tiling(s, 8).width, width) << span;
    for (auto [bf, bc] : {std::pair{8, 4}, std::pair{16, 2}}) {
      ++seed;
      SparseConvTester().shape(s).format(block(bf, bc, 0.5)).epilogue(eps[seed % eps.size()]).seed(seed).run();
    }
  }
}

TEST(SparseConv, KernelNameWithoutPreparing) {
  const ConvShape s = conv_shape(18, 32, 10, 10, 3, 1, 1, 1, 1, 1);
  const std::vector<float> w = random_floats(static_cast<size_t>(s.weight_count()), 7);
  for (const std::string name : {"block_8x4", "block_col_16x2", "block_32x4", "pattern_2ep", "pattern_3ep", "csr_1x1"}) {
    SparseFormat f = SparseFormat::from_name(name, "test");
    f.ratio = 0.5;
    const PruneMask m = format_mask(s, w.data(), f);
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(name + " " + isa_name(isa));
      auto k = prepare_sparse_conv(ConvDesc{s, {}, f}, pack_sparse_rows(s, w.data(), m.keep, f.row_height()), nullptr, isa);
      EXPECT_EQ(sparse_conv_kernel_name(f, isa), k->kernel_name());
    }
  }
}

}  // namespace
}  // namespace hilsim::kernels

namespace hilsim::kernels {
namespace {

// Rows of 1-4 filters on small planes run 32- and 16-pixel tiles (SE blocks' 1x1 maps, 5x5 stages):
// every width on every ISA, block, pattern and CSR, in place and padded, batch 2, against the reference.
TEST(SparseConv, SmallPlanesRunNarrowTiles) {
  EXPECT_EQ(sparse_tiling(conv_shape(8, 8, 1, 1, 1, 1, 0, 0, 0, 0), 1).width, 16);
  EXPECT_EQ(sparse_tiling(conv_shape(8, 8, 5, 5, 1, 1, 0, 0, 0, 0), 2).width, 32);
  EXPECT_EQ(sparse_tiling(conv_shape(8, 8, 10, 10, 1, 1, 0, 0, 0, 0), 4).width, 64);
  EXPECT_EQ(sparse_tiling(conv_shape(8, 8, 1, 1, 1, 1, 0, 0, 0, 0), 8).width, 32);  // 8-filter rows as before
  // Whatever the plane, the tiling picks a tile every ISA's kernel table has.
  for (int fb : {1, 2, 4, 8, 16})
    for (int64_t hw = 1; hw <= 130; hw += 3)
      for (int64_t k : {1, 3}) {
        const SparseTiling t = sparse_tiling(conv_shape(8, 8, hw, hw, k, 1, k / 2, k / 2, k / 2, k / 2), fb);
        EXPECT_GE(col_tile_index(fb, t.width), 0) << "fb " << fb << " width " << t.width;
      }
  uint32_t seed = 900;
  for (const ConvShape& s : {conv_shape(37, 21, 1, 1, 1, 1, 0, 0, 0, 0), conv_shape(29, 13, 5, 5, 1, 1, 0, 0, 0, 0),
                             conv_shape(11, 9, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2), conv_shape(13, 10, 4, 4, 3, 1, 1, 1, 1, 1),
                             conv_shape(9, 7, 5, 3, 3, 2, 1, 1, 1, 1)}) {
    for (int bf : {1, 2, 4}) SparseConvTester().shape(s).format(block(bf, 2, 0.5)).bias(true).seed(++seed).run();
    if (s.kh == 3) SparseConvTester().shape(s).format(pattern(2)).seed(++seed).run();
    if (s.kh == 1) SparseConvTester().shape(s).format(csr(0.7)).seed(++seed).run();
  }
}

}  // namespace
}  // namespace hilsim::kernels
