#include "hilsim/model/kernel_features.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/dense_tiling.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/opencl/cl_kernels.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/model/kernel_model.h"

using namespace hilsim::model;

TEST(KernelFeatures, MemoryBoundOpsCountDramStreamedBytesApart) {
  KernelInstance small;
  small.klass = "elementwise";
  small.in_bytes = 2 * 64 * 28 * 28 * 4, small.out_bytes = 64 * 28 * 28 * 4;  // 0.6 MiB: cache-resident
  auto f = features_of(small);
  EXPECT_EQ(f.at("bytes"), static_cast<double>(small.in_bytes + small.out_bytes));
  EXPECT_EQ(f.at("far_bytes"), 0.0);
  KernelInstance big = small;
  big.in_bytes *= 16, big.out_bytes *= 16;  // 9.2 MiB: streams from DRAM
  f = features_of(big);
  EXPECT_EQ(f.at("far_bytes"), f.at("bytes"));
  EXPECT_GT(f.at("bytes"), static_cast<double>(kNearActBytes));
  // Compute classes keep their own feature set.
  KernelInstance conv;
  conv.klass = "dense_conv3x3";
  EXPECT_EQ(features_of(conv).count("far_bytes"), 0u);
}

TEST(KernelFeatures, DepthwiseCountsRowBlocksPaddedPlanesAndIdleLanes) {
  hilsim::kernels::ConvShape s;
  s.c = s.f = s.groups = 144, s.h = s.w = 59, s.kh = s.kw = 3, s.stride_h = s.stride_w = 2;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  const KernelInstance k = conv_instance("depthwise_conv3x3", s, 1, s.macs(), s.weight_count() * 4);
  ASSERT_EQ(s.out_w(), 30);
  ASSERT_FALSE(hilsim::kernels::depthwise_uses_channel_lanes(s));
  EXPECT_EQ(k.out_tiles, 144 * 8 * 2);            // blocks of 4 of the 30 output rows x two 16-wide steps
  EXPECT_EQ(k.lane_macs, 144 * 30 * 32 * 9);       // a 30-wide row sweeps two 16-lane steps
  EXPECT_GT(k.lane_macs, k.executed_macs);
  EXPECT_EQ(k.strided_lane_macs, k.lane_macs);     // stride 2 gathers every load
  EXPECT_EQ(k.panel_bytes, 4 * 144 * 61 * 61);     // each plane copied into its zero-padded 61x61
  EXPECT_EQ(k.work_items, 144);                    // threads split planes
  hilsim::kernels::ConvShape s1 = s;
  s1.stride_h = s1.stride_w = 1;
  const KernelInstance k1 = conv_instance("depthwise_conv3x3", s1, 1, s1.macs(), s1.weight_count() * 4);
  EXPECT_EQ(k1.strided_lane_macs, 0);
  EXPECT_EQ(k1.lane_macs, 144 * 59 * 64 * 9);
  EXPECT_EQ(k1.out_tiles, 144 * 15 * 4);
  // A 20-wide row computes 32 lanes (16 per step on either ISA), its 20 rows five blocks.
  hilsim::kernels::ConvShape s20 = s1;
  s20.h = s20.w = 20;
  ASSERT_FALSE(hilsim::kernels::depthwise_uses_channel_lanes(s20));
  const KernelInstance k20 = conv_instance("depthwise_conv3x3", s20, 1, s20.macs(), s20.weight_count() * 4);
  EXPECT_EQ(k20.lane_macs, 144 * 20 * 32 * 9);
  EXPECT_EQ(k20.out_tiles, 144 * 5 * 2);
}

TEST(KernelFeatures, NarrowDepthwiseCountsChannelGroupsAndTransposes) {
  // MobileNetV2's 14x14 stride-2 layer (7 wide out) runs the channel-lanes kernel, 16 channels a group.
  hilsim::kernels::ConvShape s;
  s.c = s.f = s.groups = 577, s.h = s.w = 14, s.kh = s.kw = 3, s.stride_h = s.stride_w = 2;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  ASSERT_TRUE(hilsim::kernels::depthwise_uses_channel_lanes(s));
  const KernelInstance k = conv_instance("depthwise_conv3x3", s, 1, s.macs(), s.weight_count() * 4);
  const int64_t lanes = 37 * 16;                   // 577 channels: 36 full groups and one of a single lane
  EXPECT_EQ(k.work_items, 37);
  EXPECT_EQ(k.out_tiles, 37 * 7);                  // one sweep per group and output row
  // Every lane busy but the last group's; the first output row's and column's windows start on the
  // zero border, whose taps the kernel skips: 2 + 6 x 3 window rows (and columns) on the map.
  EXPECT_EQ(k.lane_macs, lanes * (2 + 6 * 3) * (2 + 6 * 3));
  EXPECT_EQ(k.strided_lane_macs, 0);               // no gathers: a stride is an address step
  EXPECT_EQ(k.panel_bytes, 4 * lanes * (16 * 16 + 7 * 7));  // padded input tile in, output tile out
}

TEST(KernelFeatures, DepthwiseSevenBySevenOnATinyMapCountsOnlyTheTapsOnTheMap) {
  // ConvNeXt-base at 96x96: a 7x7 window (pad 3) over a 3x3 map, 9 of its 49 taps on the map per output.
  hilsim::kernels::ConvShape s;
  s.c = s.f = s.groups = 1024, s.h = s.w = 3, s.kh = s.kw = 7;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 3;
  ASSERT_TRUE(hilsim::kernels::depthwise_uses_channel_lanes(s));
  const KernelInstance k = conv_instance("depthwise_conv7x7", s, 1, s.macs(), s.weight_count() * 4);
  EXPECT_EQ(hilsim::kernels::depthwise_lanes_taps(s), 9 * 9);
  EXPECT_EQ(k.lane_macs, 1024 * 9 * 9);
  EXPECT_EQ(k.panel_bytes, 4 * 1024 * (9 * 9 + 3 * 3));
}

TEST(KernelFeatures, InPlaceSparseRowsCountMaskedTailsAndChunkCalls) {
  // A MobileNet project layer: 720 -> 120 channels on a 10x10 plane, read in place (1x1, stride 1).
  hilsim::kernels::ConvShape s;
  s.c = 720, s.f = 120, s.h = s.w = 10;
  const int64_t kept = 720 * 120 / 10;  // 90% pruned
  const KernelInstance k = conv_instance("sparse_fb1", s, 1, kept * 100, kept * 8);
  // 100 positions in 64-lane tiles: two per row, the second cut short and run masked.
  EXPECT_EQ(k.out_tiles, 120 * 2);
  EXPECT_EQ(k.lane_macs, kept * 128);
  EXPECT_EQ(k.masked_lane_macs, kept * 64);
  // 720 channels x 64 lanes outgrow L1 (112 channels fit): 7 chunks, 6 calls per tile beyond the first.
  EXPECT_EQ(k.chunk_calls, k.out_tiles * 6);
  // A plane that fills its tiles exactly has no masked tail; a padded 3x3 copies into slack instead.
  s.h = s.w = 8;
  EXPECT_EQ(conv_instance("sparse_fb1", s, 1, kept * 64, kept * 8).masked_lane_macs, 0);
  s.h = s.w = 10, s.kh = s.kw = 3, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  EXPECT_EQ(conv_instance("sparse_fb1", s, 1, kept * 900, kept * 8).masked_lane_macs, 0);
}

// A concat pays per input tensor: DenseNet's block concats join up to 48 where the calibration's
// first designs joined 2-4. Same bytes, more inputs, a higher price under a model with that term.
TEST(KernelFeatures, ConcatOfManyInputsPaysPerInput) {
  EXPECT_EQ(feature_names("concat"),
            (std::vector<std::string>{"bytes", "far_bytes", "elements", "inputs", "extra_runs", "call"}));
  EXPECT_EQ(feature_names("copy"), (std::vector<std::string>{"bytes", "far_bytes", "elements", "rows", "call"}));
  const int64_t bytes = 48 * 32 * 14 * 14 * 4;
  KernelInstance two = memory_instance("concat", bytes, bytes, 1), many = two;
  two.inputs = 2, many.inputs = 48;
  EXPECT_EQ(features_of(two).at("bytes"), features_of(many).at("bytes"));
  EXPECT_EQ(features_of(many).at("inputs"), 48.0);
  EXPECT_EQ(feature_vector(many)[kFInputs], 48.0);
  EXPECT_EQ(std::string(all_feature_names()[kFInputs]), "inputs");
  // 1e-6 ms per byte, 2 us per input, 3 us per call.
  KernelModel m;
  m.features = {"bytes", "inputs", "call"};
  m.params = {1e-6, 2e-3, 3e-3};
  const double t2 = evaluate_model(m, features_of(two)), t48 = evaluate_model(m, features_of(many));
  EXPECT_NEAR(t48 - t2, 46 * 2e-3, 1e-9);
  const CompiledModel cm = compile_model(m, "concat/t1");
  EXPECT_NEAR(cm.evaluate(feature_vector(many)), t48, 1e-9);
  // Other classes never carry the term.
  KernelInstance add = memory_instance("elementwise", bytes, bytes, 1);
  add.inputs = 5;
  EXPECT_EQ(features_of(add).count("inputs"), 0u);
}

// A concat along an inner axis copies a run per input per outer index (YOLO's detect head: 3 pieces
// of each of 4800 anchor-pixels); pools and resizes pay per inner loop. Same bytes, more runs or
// loops: a higher price under a model with those terms, and only their classes carry them.
TEST(KernelFeatures, ShortRunsAndInnerLoopsArePricedWhereTheyOccur) {
  const int64_t bytes = 85 * 4800 * 4;
  KernelInstance channel = memory_instance("concat", bytes, bytes, 1), head = channel;
  channel.inputs = head.inputs = 3;
  head.extra_runs = 3 * (4800 - 1);
  EXPECT_EQ(features_of(channel).at("extra_runs"), 0.0);
  EXPECT_EQ(features_of(head).at("extra_runs"), 3.0 * 4799);
  EXPECT_EQ(feature_vector(head)[kFExtraRuns], 3.0 * 4799);
  KernelModel m;
  m.features = {"bytes", "inputs", "extra_runs", "call"};
  m.params = {1e-7, 1e-3, 2e-5, 3e-3};  // 20 ns a run
  const double t_channel = evaluate_model(m, features_of(channel)), t_head = evaluate_model(m, features_of(head));
  EXPECT_NEAR(t_head - t_channel, 3 * 4799 * 2e-5, 1e-9);
  EXPECT_NEAR(compile_model(m, "concat/t1").evaluate(feature_vector(head)), t_head, 1e-9);
  for (const char* klass : {"pool", "resize"}) {
    const auto& names = feature_names(klass);
    EXPECT_NE(std::find(names.begin(), names.end(), "rows"), names.end()) << klass;
    KernelInstance k = memory_instance(klass, bytes, bytes, 1);
    k.rows = 1234;
    EXPECT_EQ(features_of(k).at("rows"), 1234.0) << klass;
  }
  KernelInstance add = memory_instance("elementwise", bytes, bytes, 1);
  add.rows = 7, add.extra_runs = 9;
  EXPECT_EQ(features_of(add).count("rows"), 0u);
  EXPECT_EQ(features_of(add).count("extra_runs"), 0u);
  EXPECT_EQ(features_of(channel).count("rows"), 0u);
}

TEST(KernelFeatures, ConvsRunAsGemmsCarryTheirCopies) {
  // A GEMM op writes C in place: no panel bytes. A 1x1 conv on a 1x1 map runs on the GEMM itself; one
  // on a small plane (pixel rows) packs its input's rows and transposes its tile buffer.
  EXPECT_EQ(gemm_instance(36, 4096, 1024, 1, true).panel_bytes, 0);
  hilsim::kernels::ConvShape head;
  head.n = 1, head.c = 1024, head.f = 256, head.h = head.w = 1, head.kh = head.kw = 1;
  ASSERT_GT(hilsim::kernels::dense_conv_gemm_rows(head), 0);
  EXPECT_EQ(conv_gemm_instance(head, 1, true).panel_bytes, 0);
  hilsim::kernels::ConvShape late = head;
  late.h = late.w = 6, late.n = 2;
  ASSERT_EQ(hilsim::kernels::dense_conv_gemm_rows(late), 72);
  const KernelInstance k = conv_gemm_instance(late, 2, true), g = gemm_instance(72, 256, 1024, 2, true);
  EXPECT_EQ(k.klass, "gemm");
  EXPECT_EQ(k.lane_macs, g.lane_macs);
  // At least A (pixels x channels) and the transposed output (pixels x filters), per image.
  EXPECT_GE(k.panel_bytes, 4 * 72 * (1024 + 256));
  EXPECT_EQ(features_of(k).at("panel_bytes"), static_cast<double>(k.panel_bytes));
}

TEST(KernelFeatures, GemmIsPricedOnItsOwnTerms) {
  // One-row classifiers and token GEMMs: MACs beside lane MACs tell them apart; no conv-only terms.
  const auto& names = feature_names("gemm");
  for (const char* f : {"macs", "lane_macs", "wstream_far", "panel_bytes", "call"})
    EXPECT_NE(std::find(names.begin(), names.end(), f), names.end()) << f;
  for (const char* f : {"in_bytes", "strided_lanes", "chunk_calls"})
    EXPECT_EQ(std::find(names.begin(), names.end(), f), names.end()) << f;
  const KernelInstance head = gemm_instance(1, 1000, 1024, 1, true), tokens = gemm_instance(196, 1000, 1024, 1, true);
  const auto fh = features_of(head), ft = features_of(tokens);
  EXPECT_EQ(fh.at("lane_macs") / fh.at("macs"), 2.0 * 1024 / 1000);  // a thin tile computes 2 rows; 32-column tiles
  EXPECT_LT(ft.at("lane_macs") / ft.at("macs"), 1.2);
  // The rows the kernels compute: 2 / 4 / 8 for a tile's last 1-2 / 3-4 / 5-8 rows.
  EXPECT_EQ(hilsim::kernels::gemm_rows_computed(1), 2);
  EXPECT_EQ(hilsim::kernels::gemm_rows_computed(3), 4);
  EXPECT_EQ(hilsim::kernels::gemm_rows_computed(13), 16);
  EXPECT_EQ(hilsim::kernels::gemm_rows_computed(197), 200);
}

TEST(KernelFeatures, FarWeightsAreDramReadsOnlyWhenTheLastLevelCannotHoldThem) {
  KernelInstance k = gemm_instance(1, 1000, 1024, 1, true);
  const int64_t exposed = k.wstream_far_bytes;
  ASSERT_GT(exposed, k.weight_bytes * 9 / 10);  // a one-row GEMM hides little of its stream
  ASSERT_LE(exposed, k.weight_bytes);
  const int64_t llc = int64_t{32} << 20;
  const auto share = static_cast<int64_t>(kLlcHoldsShare * static_cast<double>(llc));
  EXPECT_TRUE(llc_holds(share, llc));
  EXPECT_FALSE(llc_holds(share + 1, llc));
  EXPECT_FALSE(llc_holds(1, 0));  // unknown cache: far
  KernelInstance dram = k;
  place_operands(dram, int64_t{40} << 20, llc);
  EXPECT_EQ(dram.wstream_far_bytes, exposed);
  place_operands(k, int64_t{4} << 20, llc);
  EXPECT_EQ(k.wstream_far_bytes, 0);
  EXPECT_EQ(k.wstream_bytes, k.weight_bytes);  // still streamed, at the near rate
}

TEST(KernelFeatures, ActivationsStreamFromDramOnlyBeyondTheLastLevelsShare) {
  // 3 MB through a residual add: beyond kNearActBytes, so far while the last level is unknown; within a
  // quarter of a 32 MiB L3, near once placed there; far again with an 8 MiB one.
  const int64_t in = 2 * (int64_t{3} << 19), out = int64_t{3} << 19;
  KernelInstance add = memory_instance("elementwise", in, out, 1);
  ASSERT_GT(in + out, kNearActBytes);
  EXPECT_EQ(features_of(add).at("far_bytes"), static_cast<double>(in + out));
  KernelInstance zen4 = add, small_l3 = add;
  place_operands(zen4, 0, int64_t{32} << 20);
  EXPECT_EQ(zen4.act_far_bytes, 0);
  EXPECT_EQ(features_of(zen4).at("far_bytes"), 0.0);
  EXPECT_EQ(features_of(zen4).at("bytes"), features_of(add).at("bytes"));  // still moved, at the near rate
  place_operands(small_l3, 0, int64_t{8} << 20);
  EXPECT_EQ(features_of(small_l3).at("far_bytes"), static_cast<double>(in + out));
  KernelInstance unknown = add;
  place_operands(unknown, 0, 0);  // no cache figures: the fixed limit
  EXPECT_EQ(act_far_bytes(unknown), in + out);
}

TEST(KernelFeatures, GpuTermsAreWavesOfWorkGroupsAndLaunches) {
  hilsim::kernels::ConvShape s;
  s.c = 32, s.f = 20, s.h = s.w = 5, s.kh = s.kw = 3;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  KernelInstance k = conv_instance("dense_conv3x3", s, 1, s.macs(), s.weight_count() * 4);
  // 25 pixels in groups of 16 -> 2 groups per tile of 8 filters, 3 tiles for 20 filters.
  EXPECT_EQ(k.work_groups, 2 * 3);
  auto f = features_of(k, true);
  EXPECT_EQ(f.at("waves"), 6.0);
  EXPECT_EQ(f.at("launches"), 1.0);
  EXPECT_EQ(f.count("lane_macs"), 0u);  // the CPU engine's terms are not the device's
  EXPECT_EQ(features_of(k).count("waves"), 0u);
  k.compute_units = 4;
  EXPECT_EQ(features_of(k, true).at("waves"), 2.0);  // ceil(6 / 4)
  // Sparse rows of fb filters and depthwise planes are the device's other work-group tilings.
  EXPECT_EQ(conv_instance("sparse_fb4", s, 1, s.macs() / 2, 100).work_groups, 2 * 5);
  hilsim::kernels::ConvShape dw = s;
  dw.f = dw.groups = dw.c;
  EXPECT_EQ(conv_instance("depthwise_conv3x3", dw, 1, dw.macs(), 4 * 9 * 32).work_groups, 2 * 32);
  for (const char* c : {"dense_conv1x1", "sparse_fb8", "elementwise", "pool", "concat"})
    EXPECT_EQ(gpu_feature_names(c).back(), "launches") << c;
}

TEST(KernelFeatures, GpuDirectMacsAreThe1x1sTheOpenClLoweringDoesNotRunAsAGemm) {
  hilsim::kernels::ConvShape s;
  s.c = 64, s.f = 32, s.h = s.w = 20, s.kh = s.kw = 1;
  auto direct = [](const hilsim::kernels::ConvShape& x, const char* klass) {
    return features_of(conv_instance(klass, x, 1, x.macs(), x.weight_count() * 4), true).at("direct_macs");
  };
  EXPECT_TRUE(hilsim::kernels::opencl::conv_runs_as_gemm(s));
  EXPECT_EQ(direct(s, "dense_conv1x1"), 0.0);
  hilsim::kernels::ConvShape strided = s, padded = s, grouped = s;
  strided.stride_h = strided.stride_w = 2;
  padded.pad_top = padded.pad_left = padded.pad_bottom = padded.pad_right = 1;
  grouped.groups = 4;
  for (const auto& x : {strided, padded, grouped}) {
    EXPECT_FALSE(hilsim::kernels::opencl::conv_runs_as_gemm(x)) << x.str();
    EXPECT_EQ(direct(x, "dense_conv1x1"), static_cast<double>(x.macs())) << x.str();
  }
  // Other classes have one OpenCL kernel each, and the CPU's terms have no such feature.
  hilsim::kernels::ConvShape k3 = strided;
  k3.kh = k3.kw = 3;
  EXPECT_EQ(direct(k3, "dense_conv3x3"), 0.0);
  EXPECT_EQ(features_of(conv_instance("dense_conv1x1", strided, 1, strided.macs(), 4)).count("direct_macs"), 0u);
}

TEST(KernelFeatures, GpuIdleLaneMacsAreTheSparseRowsFloat4Padding) {
  hilsim::kernels::ConvShape s;
  s.c = 64, s.f = 64, s.h = s.w = 5, s.kh = s.kw = 3;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  const int64_t kept = s.macs() / 4;  // an even share per pixel
  auto idle = [](const hilsim::kernels::ConvShape& x, const char* klass, int64_t macs) {
    return features_of(conv_instance(klass, x, 1, macs, 1000), true).at("idle_lane_macs");
  };
  // 5 pixels a row in two float4s: 3 idle lanes a row, 15 of 40 over the plane.
  EXPECT_EQ(idle(s, "sparse_fb8", kept), static_cast<double>(kept / 25 * 15));
  hilsim::kernels::ConvShape wide = s;
  wide.h = wide.w = 8;  // whole float4s: none idle
  EXPECT_EQ(idle(wide, "sparse_fb8", wide.macs() / 4), 0.0);
  hilsim::kernels::ConvShape strided = s;
  strided.stride_h = strided.stride_w = 2;  // the scalar kernel: one pixel per item
  EXPECT_EQ(idle(strided, "sparse_fb8", strided.macs() / 4), 0.0);
  hilsim::kernels::ConvShape gemm = s;
  gemm.kh = gemm.kw = 1;
  gemm.pad_top = gemm.pad_left = gemm.pad_bottom = gemm.pad_right = 0;  // the plane is one row: 25 in 28
  EXPECT_EQ(idle(gemm, "sparse_fb4", gemm.macs() / 2), static_cast<double>(gemm.macs() / 2 / 25 * 3));
  EXPECT_EQ(idle(s, "dense_conv3x3", s.macs()), 0.0);  // the dense conv's tile is tuned: not counted
}

// The rule the features ask is the one the OpenCL conv follows when it picks its kernel.
TEST(KernelFeatures, ConvRunsAsGemmIsTheKernelTheOpenClConvPicks) {
  if (const std::string why = hilsim::kernels::opencl::ClContext::unavailable_reason(); !why.empty())
    GTEST_SKIP() << "no OpenCL device: " << why;
  hilsim::kernels::ConvShape s;
  s.c = 8, s.f = 8, s.h = s.w = 6, s.kh = s.kw = 1;
  std::vector<hilsim::kernels::ConvShape> shapes(4, s);
  shapes[1].stride_h = shapes[1].stride_w = 2;
  shapes[2].pad_top = shapes[2].pad_left = shapes[2].pad_bottom = shapes[2].pad_right = 1;
  shapes[3].groups = 2;
  const hilsim::kernels::opencl::ClTile tile{8, 0, 1};
  for (const auto& x : shapes) {
    std::vector<float> w(static_cast<size_t>(x.weight_count()), 0.5f);
    const auto conv = hilsim::kernels::opencl::prepare_cl_conv(x, w.data(), nullptr, {}, &tile);
    EXPECT_EQ(conv->kernel_name().find("conv1x1_gemm") != std::string::npos, hilsim::kernels::opencl::conv_runs_as_gemm(x)) << x.str();
  }
}

// The dense conv's features follow the kernel's tiling (kernels/dense_tiling): a strip tail of at most
// 16 pixels sweeps the half tile, a longer one the whole.
TEST(KernelFeatures, DenseConvCountsTheLanesItsTilesSweep) {
  hilsim::kernels::ConvShape s;
  s.c = 512, s.f = 256, s.h = s.w = 10;
  const KernelInstance k = conv_instance("dense_conv1x1", s, 1, s.macs(), s.weight_count() * 4);
  EXPECT_EQ(k.lane_macs, 256 * (96 + 16) * 512);  // 100 pixels: three strips and a 4-pixel tail
  EXPECT_EQ(k.out_tiles, 32 * 4);
  EXPECT_EQ(k.wstream_bytes, s.weight_count() * 4 * 4);
  EXPECT_EQ(k.panel_bytes, 4 * 32 * 512 * 4);
  // ResNet's layer 4: 49 pixels run as 8-pixel tile rows (kernels/dense_tiling's pixel rows), 7 tiles
  // of which the last computes 2 rows, over 16 column tiles of 32 filters; the weights are read once,
  // the copies are the packed rows and the transposed output.
  hilsim::kernels::ConvShape s7;
  s7.c = s7.f = 512, s7.h = s7.w = 7, s7.kh = s7.kw = 3;
  s7.pad_top = s7.pad_left = s7.pad_bottom = s7.pad_right = 1;
  const KernelInstance k7 = conv_instance("dense_conv3x3", s7, 1, s7.macs(), s7.weight_count() * 4);
  EXPECT_EQ(k7.lane_macs, 512 * 50 * 4608);
  EXPECT_EQ(k7.out_tiles, 7 * 16);
  EXPECT_EQ(k7.wstream_bytes, s7.weight_count() * 4);
  EXPECT_EQ(k7.panel_bytes, 4 * (50 * 4608 + 49 * 512));
}

// Row strips (kernels/dense_tiling) run the implicit GEMM on every ISA: their panel bytes are the one
// zero-padded copy of the input, not a panel per strip; the same conv on 56-wide rows builds panels.
TEST(KernelFeatures, DenseConvRowStripsCountThePaddedCopy) {
  hilsim::kernels::ConvShape s;
  s.c = s.f = 32, s.h = s.w = 80, s.kh = s.kw = 3;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  ASSERT_TRUE(hilsim::kernels::dense_tiling(s).row_strips);
  const KernelInstance k = conv_instance("dense_conv3x3", s, 1, s.macs(), s.weight_count() * 4);
  EXPECT_EQ(k.panel_bytes, 4 * 32 * 82 * 82);
  EXPECT_EQ(k.lane_macs, 32 * 6400 * 288);  // 80-pixel rows: 32 + 32 + 16, no idle lane
  hilsim::kernels::ConvShape s56 = s;
  s56.h = s56.w = 56;
  ASSERT_FALSE(hilsim::kernels::dense_tiling(s56).row_strips);
  const KernelInstance k56 = conv_instance("dense_conv3x3", s56, 1, s56.macs(), s56.weight_count() * 4);
  EXPECT_EQ(k56.panel_bytes, 4 * 98 * 32 * 288);  // 3136 pixels: 98 strips of 32, K = 288 each
}

TEST(KernelFeatures, GemmRowsHideTheirWeightStreamUnderTheirMacs) {
  // ConvNeXt-B's MLP at 96: 36 token rows of a 512 x 2048 Linear; its stage-4 MLP, 9 rows of 1024 x 4096.
  const KernelInstance one = gemm_instance(1, 2048, 512, 1, false), few = gemm_instance(9, 4096, 1024, 1, false),
                       many = gemm_instance(36, 2048, 512, 1, false);
  const auto share = [](const KernelInstance& k) {
    return static_cast<double>(k.wstream_far_bytes) / static_cast<double>(k.weight_bytes);
  };
  EXPECT_GT(share(one), share(few));
  EXPECT_GT(share(few), share(many));
  EXPECT_NEAR(share(many), static_cast<double>(kGemmStreamHideRows) / static_cast<double>(kGemmStreamHideRows + 36), 1e-6);
  EXPECT_EQ(many.wstream_bytes, many.weight_bytes * 5);  // every 8-row tile still sweeps the panels
}
