// Every OpenCL kernel family against the reference loops, on odd shapes (prime sizes, strides,
// dilation, padding, groups, tails of filter tiles), to 1e-4 relative. Skipped, saying why, where no
// OpenCL device exists.
#include "hilsim/kernels/opencl/cl_kernels.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hilsim/kernels/reference_ops.h"
#include "hilsim/kernels/sparse_masks.h"
#include "kernels/kernel_test_util.h"

namespace hilsim::kernels::opencl {
namespace {

using testing::all_epilogues;
using testing::conv_ref;
using testing::random_floats;
using testing::rel_error;

#define SKIP_WITHOUT_OPENCL()                                                             \
  if (std::string why = ClContext::unavailable_reason(); !why.empty())                    \
  GTEST_SKIP() << "no OpenCL device: " << why

ConvShape shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t f, int64_t k, int64_t stride, int64_t pad,
                int64_t dil = 1, int64_t groups = 1) {
  ConvShape s;
  s.n = n, s.c = c, s.h = h, s.w = w, s.f = f, s.kh = s.kw = k;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  s.dil_h = s.dil_w = dil;
  s.groups = groups;
  return s;
}

std::vector<float> run_conv(const ClConv& conv, const ConvShape& s, const std::vector<float>& in) {
  std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()), -7.0f);
  ThreadPool pool(1);
  conv.run(in.data(), out.data(), pool);
  return out;
}

TEST(ClConvTester, DenseMatchesReferenceOnOddShapes) {
  SKIP_WITHOUT_OPENCL();
  const std::vector<ConvShape> shapes = {
      shape(1, 13, 11, 7, 19, 1, 1, 0),      // 1x1 GEMM path, filter tail
      shape(2, 5, 9, 13, 11, 3, 1, 1),       // batch 2, kxk
      shape(1, 7, 15, 10, 9, 3, 2, 1),       // stride 2
      shape(1, 6, 13, 13, 10, 3, 1, 2, 2),   // dilation 2
      shape(1, 12, 9, 11, 18, 3, 1, 1, 1, 3),  // groups 3
      shape(1, 3, 17, 19, 5, 5, 2, 2),       // 5x5 stride 2
      shape(1, 9, 8, 8, 7, 1, 2, 0),         // strided 1x1: the direct path
  };
  uint32_t seed = 1;
  for (const ConvShape& s : shapes)
    for (ClTile t : {ClTile{8, 0, 1}, ClTile{4, 16, 4}})  // both heights, widths and group sizes
      // Every activation on one tile; the other with two (the epilogue code is shared).
      for (const Epilogue& ep : t.ft == 8 ? all_epilogues()
                                          : std::vector<Epilogue>{Epilogue{Act::kRelu}, Epilogue{Act::kClip, 0.0f, 6.0f}}) {
        auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), ++seed);
        auto w = random_floats(static_cast<size_t>(s.weight_count()), ++seed, -0.5f, 0.5f);
        auto b = random_floats(static_cast<size_t>(s.f), ++seed);
        auto conv = prepare_cl_conv(s, w.data(), b.data(), ep, &t);
        EXPECT_LE(rel_error(run_conv(*conv, s, in), conv_ref(s, in, w, b.data(), ep)), 1e-4)
            << s.str() << " " << t.str() << " act " << act_name(ep.act) << " " << conv->kernel_name();
        EXPECT_GE(conv->last_times().kernel_ms, 0.0);
      }
}

TEST(ClConvTester, DepthwiseMatchesReference) {
  SKIP_WITHOUT_OPENCL();
  uint32_t seed = 100;
  for (ConvShape s : {shape(1, 11, 13, 9, 11, 3, 1, 1, 1, 11), shape(2, 7, 14, 15, 7, 5, 2, 2, 1, 7),
                      shape(1, 5, 12, 12, 5, 3, 1, 2, 2, 5)})
    for (const Epilogue& ep : all_epilogues()) {
      auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), ++seed);
      auto w = random_floats(static_cast<size_t>(s.weight_count()), ++seed);
      auto conv = prepare_cl_conv(s, w.data(), nullptr, ep);
      EXPECT_EQ(conv->kernel_name().rfind("ocl_depthwise", 0), 0u) << conv->kernel_name();
      EXPECT_LE(rel_error(run_conv(*conv, s, in), conv_ref(s, in, w, nullptr, ep)), 1e-4) << s.str();
    }
}

// Block-punched and pattern weights packed by the CPU engine's packer, run on the device.
TEST(ClConvTester, SparseRowsMatchReference) {
  SKIP_WITHOUT_OPENCL();
  struct Case {
    ConvShape s;
    SparseFormat fmt;
  };
  SparseFormat b84{SparseKind::kBlock, 8, 4, 2, 0.8};
  SparseFormat b164{SparseKind::kBlock, 16, 4, 2, 0.6};
  SparseFormat b42{SparseKind::kBlock, 4, 2, 2, 0.5};
  SparseFormat pat{SparseKind::kPattern, 8, 4, 2, 0.0};
  SparseFormat csr{SparseKind::kCsr, 8, 4, 2, 0.9};
  const std::vector<Case> cases = {
      {shape(1, 13, 11, 9, 21, 3, 1, 1), b84},  {shape(2, 9, 10, 13, 19, 3, 2, 1), b84},
      {shape(1, 17, 7, 11, 37, 1, 1, 0), b164}, {shape(1, 6, 12, 9, 10, 3, 1, 2, 2), b42},
      {shape(1, 7, 9, 13, 11, 3, 1, 1), pat},   {shape(1, 15, 8, 9, 13, 1, 1, 0), csr},
  };
  uint32_t seed = 200;
  for (const Case& c : cases)
    for (const Epilogue& ep : {Epilogue{}, Epilogue{Act::kRelu}, Epilogue{Act::kClip, 0.0f, 6.0f}}) {
      const ConvShape& s = c.s;
      auto in = random_floats(static_cast<size_t>(s.n * s.c * s.h * s.w), ++seed);
      auto w = random_floats(static_cast<size_t>(s.weight_count()), ++seed);
      auto b = random_floats(static_cast<size_t>(s.f), ++seed);
      PruneMask m = format_mask(s, w.data(), c.fmt);
      auto wm = apply_mask(m, w.data(), s.weight_count());
      SparseRows rows = pack_sparse_rows(s, w.data(), m.keep, c.fmt.row_height());
      auto conv = prepare_cl_sparse_conv(ConvDesc{s, ep, c.fmt}, rows, b.data());
      EXPECT_EQ(conv->kernel_name(), "ocl_" + c.fmt.name());
      EXPECT_LE(rel_error(run_conv(*conv, s, in), conv_ref(s, in, wm, b.data(), ep)), 1e-4)
          << s.str() << " " << c.fmt.name();
      EXPECT_LT(conv->executed_macs(), s.macs()) << "the device conv must skip the pruned weights";
    }
}

TEST(ClMemoryOpsTester, BinaryMatchesReference) {
  SKIP_WITHOUT_OPENCL();
  const int64_t n = 2, c = 5, inner = 37, total = n * c * inner;
  auto a = random_floats(static_cast<size_t>(total), 1);
  auto same = random_floats(static_cast<size_t>(total), 2, 0.5f, 2.0f);
  auto chan = random_floats(static_cast<size_t>(c), 3, 0.5f, 2.0f);
  std::vector<float> scalar = {1.75f};
  auto da = to_device(a), dout = to_device(std::vector<float>(static_cast<size_t>(total)));
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kMul, BinaryOp::kSub, BinaryOp::kDiv})
    for (ClBroadcast mode : {ClBroadcast::kSame, ClBroadcast::kPerChannel, ClBroadcast::kScalar})
      for (const Epilogue& ep : {Epilogue{}, Epilogue{Act::kRelu}}) {
        const std::vector<float>& b = mode == ClBroadcast::kSame ? same : mode == ClBroadcast::kPerChannel ? chan : scalar;
        cl_binary(op, *da, *to_device(b), mode, total, c, inner, *dout, ep);
        std::vector<float> want(static_cast<size_t>(total));
        for (int64_t i = 0; i < total; ++i) {
          float y = b[static_cast<size_t>(mode == ClBroadcast::kSame ? i : mode == ClBroadcast::kPerChannel ? (i / inner) % c : 0)];
          float x = a[static_cast<size_t>(i)];
          float r = op == BinaryOp::kAdd ? x + y : op == BinaryOp::kMul ? x * y : op == BinaryOp::kSub ? x - y : x / y;
          want[static_cast<size_t>(i)] = ref_activation(ep, r);
        }
        EXPECT_LE(rel_error(from_device(*dout, want.size()), want), 1e-4)
            << "op " << static_cast<int>(op) << " mode " << static_cast<int>(mode);
      }
}

TEST(ClMemoryOpsTester, PoolMatchesReference) {
  SKIP_WITHOUT_OPENCL();
  struct Case {
    int64_t k, stride, pad;
    bool ceil, include_pad;
  };
  for (const Case& cs : {Case{3, 2, 1, false, false}, Case{2, 2, 0, true, false}, Case{3, 1, 1, false, true},
                         Case{5, 3, 2, true, false}})
    for (bool is_max : {true, false}) {
      PoolShape r;
      r.n = 2, r.c = 3, r.h = 13, r.w = 11;
      r.kh = r.kw = cs.k;
      r.stride_h = r.stride_w = cs.stride;
      r.pad_top = r.pad_left = r.pad_bottom = r.pad_right = cs.pad;
      r.ceil_mode = cs.ceil;
      r.count_include_pad = cs.include_pad;
      Pool2dShape p;
      p.n = r.n, p.c = r.c, p.h = r.h, p.w = r.w, p.kh = r.kh, p.kw = r.kw, p.stride_h = r.stride_h;
      p.stride_w = r.stride_w, p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = cs.pad;
      p.out_h = r.out_h(), p.out_w = r.out_w(), p.count_include_pad = cs.include_pad;
      auto in = random_floats(static_cast<size_t>(r.n * r.c * r.h * r.w), 7);
      std::vector<float> want(static_cast<size_t>(r.n * r.c * p.out_h * p.out_w));
      (is_max ? ref_max_pool2d : ref_avg_pool2d)(r, in.data(), want.data());
      auto dout = to_device(std::vector<float>(want.size()));
      cl_pool2d(is_max, p, *to_device(in), *dout);
      EXPECT_LE(rel_error(from_device(*dout, want.size()), want), 1e-4)
          << (is_max ? "max" : "avg") << " k" << cs.k << " s" << cs.stride << " p" << cs.pad << " ceil " << cs.ceil;
    }
  // Global average pool.
  auto in = random_floats(3 * 7 * 9, 8);
  std::vector<float> want(21);
  ref_global_avg_pool(21, 9, in.data(), want.data());
  auto dout = to_device(std::vector<float>(21));
  cl_global_avg_pool(21, 9, *to_device(in), *dout);
  EXPECT_LE(rel_error(from_device(*dout, 21), want), 1e-4);
}

TEST(ClMemoryOpsTester, ConcatAlongChannels) {
  SKIP_WITHOUT_OPENCL();
  // [2, 3, 5, 7] ++ [2, 4, 5, 7] along axis 1: outer 2, inner 3*35 and 4*35.
  const int64_t hw = 35, n = 2, c1 = 3, c2 = 4;
  auto x1 = random_floats(static_cast<size_t>(n * c1 * hw), 11), x2 = random_floats(static_cast<size_t>(n * c2 * hw), 12);
  auto dout = to_device(std::vector<float>(static_cast<size_t>(n * (c1 + c2) * hw), -9.0f));
  cl_copy_block(*to_device(x1), *dout, n, c1 * hw, (c1 + c2) * hw, 0);
  cl_copy_block(*to_device(x2), *dout, n, c2 * hw, (c1 + c2) * hw, c1 * hw);
  std::vector<float> want;
  for (int64_t b = 0; b < n; ++b) {
    want.insert(want.end(), x1.begin() + b * c1 * hw, x1.begin() + (b + 1) * c1 * hw);
    want.insert(want.end(), x2.begin() + b * c2 * hw, x2.begin() + (b + 1) * c2 * hw);
  }
  EXPECT_EQ(from_device(*dout, want.size()), want);
}

TEST(ClMemoryOpsTester, ResizeMatchesReference) {
  SKIP_WITHOUT_OPENCL();
  const int64_t n = 1, c = 3, h = 7, w = 5, oh = 14, ow = 15;
  auto in = random_floats(static_cast<size_t>(n * c * h * w), 21);
  const std::vector<int64_t> ishape = {n, c, h, w}, oshape = {n, c, oh, ow};
  const std::vector<double> scales = {1, 1, double(oh) / h, double(ow) / w};
  // Nearest, asymmetric + floor (what the CPU kernel and YOLO heads use).
  std::vector<float> want(static_cast<size_t>(n * c * oh * ow));
  ref_resize(ishape, oshape, scales, "nearest", "asymmetric", "floor", in.data(), want.data());
  std::vector<int32_t> iy(oh), ix(ow);
  for (int64_t y = 0; y < oh; ++y) iy[y] = static_cast<int32_t>(y * h / oh);
  for (int64_t x = 0; x < ow; ++x) ix[x] = static_cast<int32_t>(x * w / ow);
  auto dout = to_device(std::vector<float>(want.size()));
  cl_resize_gather(n * c, h, w, oh, ow, iy, ix, *to_device(in), *dout);
  EXPECT_LE(rel_error(from_device(*dout, want.size()), want), 1e-4) << "nearest";
  for (const char* coord : {"half_pixel", "align_corners", "asymmetric"}) {
    ref_resize(ishape, oshape, scales, "linear", coord, "round_prefer_floor", in.data(), want.data());
    auto ty = linear_taps(h, oh, scales[2], coord), tx = linear_taps(w, ow, scales[3], coord);
    cl_resize_linear(n * c, h, w, oh, ow, ty, tx, *to_device(in), *dout);
    EXPECT_LE(rel_error(from_device(*dout, want.size()), want), 1e-4) << "linear " << coord;
  }
}

TEST(ClTuning, SecondCallReadsTheCachedTile) {
  SKIP_WITHOUT_OPENCL();
  ConvShape s = shape(1, 8, 9, 9, 12, 3, 1, 1);
  bool cached = true;
  ClTile a = tune_conv(s, &cached);
  ClTile b = tune_conv(s, &cached);
  EXPECT_TRUE(cached) << tuning_file();
  EXPECT_EQ(a.str(), b.str());
  EXPECT_TRUE(b.ft == 4 || b.ft == 8);
}

}  // namespace
}  // namespace hilsim::kernels::opencl
