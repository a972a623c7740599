#include "hilsim/model/kernel_names.h"

#include <gtest/gtest.h>

#include <set>

#include "hilsim/graph/builder.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/util/error.h"

namespace hilsim::model {
namespace {

kernels::ConvShape shape(int64_t c, int64_t f, int64_t k, int64_t stride, int64_t groups) {
  kernels::ConvShape s;
  s.c = c, s.f = f, s.h = s.w = 16, s.kh = s.kw = k, s.stride_h = s.stride_w = stride, s.groups = groups;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = k / 2;
  return s;
}

runtime::LayerSparsity setting(runtime::Format f, int bf = 8, int bc = 4, int entries = 2) {
  runtime::LayerSparsity ls;
  ls.format = f, ls.bf = bf, ls.bc = bc, ls.entries = entries, ls.ratio = 0.7;
  return ls;
}

TEST(KernelNames, ClassTable) {
  EXPECT_EQ(kernel_class_of("dense_conv3x3_f32_gemm_8x32_avx512"), "dense_conv3x3");
  EXPECT_EQ(kernel_class_of("dense_conv3x3_f32_igemm_8x32_avx512"), "dense_conv3x3");  // implicit GEMM
  EXPECT_EQ(kernel_class_of("dense_conv1x1_f32_gemm_8x32_generic"), "dense_conv1x1");
  EXPECT_EQ(kernel_class_of("dense_conv7x7_f32_gemm_8x32_avx2"), "dense_convkxk");
  EXPECT_EQ(kernel_class_of("dense_conv1x3"), "dense_convkxk");
  EXPECT_EQ(kernel_class_of("depthwise_conv5x5_f32_dwconv_5x5s2_avx2"), "depthwise_conv5x5");
  EXPECT_EQ(kernel_class_of("depthwise_conv3x3"), "depthwise_conv3x3");
  EXPECT_EQ(kernel_class_of("block_8x4_avx512"), "sparse_fb8");
  EXPECT_EQ(kernel_class_of("block_8x4"), "sparse_fb8");
  EXPECT_EQ(kernel_class_of("block_col_16x2_avx2"), "sparse_fb16");
  EXPECT_EQ(kernel_class_of("block_32x4_generic"), "sparse_fb16");
  EXPECT_EQ(kernel_class_of("block_1x4_avx512"), "sparse_fb1");
  EXPECT_EQ(kernel_class_of("pattern_2ep_avx512"), "sparse_fb1");
  EXPECT_EQ(kernel_class_of("pattern_3ep_generic"), "sparse_fb1");
  EXPECT_EQ(kernel_class_of("csr_1x1_avx2"), "sparse_fb1");
  EXPECT_EQ(kernel_class_of("detected_rows4_avx512"), "sparse_fb4");
  EXPECT_EQ(kernel_class_of("gemm_f32_gemm_8x32_avx512"), "gemm");
  // Not conv or gemm kernels, or malformed names: no class from the name.
  for (const char* k : {"max_pool2d", "reference", "block_8_avx512", "pattern_ep", "dense_conv", "dense_convx3_a",
                        "ocl_add_broadcast", "block_8x4_avx512_avx2", "matmul_gemm_f32_gemm_8x32_avx2"})
    EXPECT_EQ(kernel_class_of(k), "") << k;
}

TEST(KernelNames, RunOpClass) {
  EXPECT_EQ(run_op_class("Conv", "block_8x4_avx2"), "sparse_fb8");
  EXPECT_EQ(run_op_class("Conv", "reference"), "");
  EXPECT_EQ(run_op_class("Gemm", "gemm_f32_gemm_8x32_avx2"), "gemm");
  EXPECT_EQ(run_op_class("MaxPool", "max_pool2d"), "pool");
  EXPECT_EQ(run_op_class("Concat", "concat"), "concat");
  EXPECT_EQ(run_op_class("MatMul", "matmul_gemm_f32_gemm_8x32_avx2"), memory_class("MatMul"));
}

TEST(KernelNames, DispatchIsaFromTheProfilesExtensions) {
  DeviceInfo d;
  EXPECT_FALSE(dispatch_isa(d).has_value());
  d.isa = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"};
  EXPECT_EQ(dispatch_isa(d), kernels::Isa::kAvx512);
  d.isa = {"avx2", "fma", "avx512f"};  // AVX-512F alone is not the kernels' AVX-512 path
  EXPECT_EQ(dispatch_isa(d), kernels::Isa::kAvx2);
  d.isa = {"avx2"};
  EXPECT_EQ(dispatch_isa(d), kernels::Isa::kGeneric);
  d.isa = {"neon", "fp16"};
  EXPECT_EQ(dispatch_isa(d), kernels::Isa::kGeneric);
}

TEST(KernelNames, ConvKernelNameWithAndWithoutIsa) {
  const auto dense = setting(runtime::Format::kDense);
  // 16 wide out, 3x3 stride 1: row strips, the implicit GEMM on every ISA; stride 2 packs a panel.
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 1, 1), dense, kernels::Isa::kAvx2), "dense_conv3x3_f32_igemm_8x32_avx2");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 2, 1), dense, kernels::Isa::kAvx2), "dense_conv3x3_f32_gemm_8x32_avx2");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 1, 1), dense, std::nullopt), "dense_conv3x3");
  // 32x32 at stride 2 is 16 wide out: the rows kernel for 3x3; 16x16 is 8 wide: the channel lanes.
  kernels::ConvShape wide = shape(16, 16, 3, 2, 16);
  wide.h = wide.w = 32;
  EXPECT_EQ(conv_kernel_name(wide, dense, kernels::Isa::kAvx512), "depthwise_conv3x3_f32_dwconv_3x3s2_avx512");
  EXPECT_EQ(conv_kernel_name(shape(16, 16, 3, 2, 16), dense, kernels::Isa::kAvx512),
            "depthwise_conv3x3_f32_dwconv_3x3s2_c16_avx512");
  EXPECT_EQ(conv_kernel_name(shape(16, 16, 5, 2, 16), dense, kernels::Isa::kAvx512),
            "depthwise_conv5x5_f32_dwconv_5x5s2_c16_avx512");
  EXPECT_EQ(kernel_class_of("depthwise_conv3x3_f32_dwconv_3x3s2_c16_avx512"), "depthwise_conv3x3");
  EXPECT_EQ(conv_kernel_name(shape(16, 16, 3, 2, 16), dense, std::nullopt), "depthwise_conv3x3");
  // A 7x7 depthwise conv runs the depthwise kernels (prepare_dense_conv hands depthwise shapes to them):
  // on a narrow map the channel lanes; a 9x9 one the portable row kernel.
  EXPECT_EQ(conv_kernel_name(shape(16, 16, 7, 1, 16), dense, kernels::Isa::kGeneric),
            "depthwise_conv7x7_f32_dwconv_7x7s1_c16_generic");
  EXPECT_EQ(conv_kernel_name(shape(16, 16, 9, 1, 16), dense, kernels::Isa::kAvx512),
            "depthwise_conv9x9_f32_dwconv_row_generic");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 1, 1), setting(runtime::Format::kBlock), kernels::Isa::kAvx512),
            "block_8x4_avx512");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 1, 1), setting(runtime::Format::kBlockCol, 16, 2), std::nullopt),
            "block_col_16x2");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 3, 1, 1), setting(runtime::Format::kPattern, 8, 4, 3), kernels::Isa::kGeneric),
            "pattern_3ep_generic");
  EXPECT_EQ(conv_kernel_name(shape(8, 16, 1, 1, 1), setting(runtime::Format::kCsr), kernels::Isa::kAvx2), "csr_1x1_avx2");
}

// conv_class is the table applied to the kernel that runs: the classes the profiles are keyed by.
TEST(KernelNames, ConvClassIsTheKernelsClass) {
  EXPECT_EQ(conv_class(shape(8, 16, 3, 1, 1), "block", 8, 4, 2), "sparse_fb8");
  EXPECT_EQ(conv_class(shape(8, 16, 3, 1, 1), "block_col", 32, 4, 2), "sparse_fb16");
  EXPECT_EQ(conv_class(shape(8, 16, 3, 1, 1), "pattern", 8, 4, 2), "sparse_fb1");
  EXPECT_EQ(conv_class(shape(8, 16, 1, 1, 1), "csr", 8, 4, 2), "sparse_fb1");
  EXPECT_EQ(conv_class(shape(8, 16, 5, 1, 1), "dense", 8, 4, 2), "dense_conv5x5");
  EXPECT_EQ(conv_class(shape(16, 16, 5, 1, 16), "", 8, 4, 2), "depthwise_conv5x5");
  EXPECT_EQ(conv_class(shape(16, 16, 7, 1, 16), "dense", 8, 4, 2), "depthwise_conv7x7");
  EXPECT_EQ(conv_class(shape(16, 32, 7, 1, 1), "dense", 8, 4, 2), "dense_convkxk");
  EXPECT_EQ(conv_class(shape(16, 32, 2, 2, 1), "dense", 8, 4, 2), "dense_convkxk");  // a patchify downsample
  EXPECT_EQ(kernel_class_of("depthwise_conv7x7_f32_dwconv_7x7s1_c16_avx512"), "depthwise_conv7x7");
  EXPECT_EQ(kernel_class_of("depthwise_conv7x7_f32_dwconv_row_generic"), "depthwise_conv7x7");
  EXPECT_EQ(kernel_class_of("depthwise_conv9x9_f32_dwconv_row_generic"), "dense_convkxk");
  EXPECT_EQ(kernel_class_of("depthwise_conv1x1_f32_dwconv_row_generic"), "dense_conv1x1");
  EXPECT_THROW(conv_class(shape(8, 16, 3, 1, 1), "blocky", 8, 4, 2), Error);
}

// One rule, asked by both sides: for each conv descriptor the class the cost model prices it by is the
// class of the kernel the runtime prepares for it, and predict names that very kernel.
TEST(KernelNames, TheCostModelsClassIsTheClassOfTheKernelTheRuntimePrepares) {
  struct Case {
    int64_t c, f, k, stride, groups;
    runtime::LayerSparsity ls;
  };
  const auto dense = setting(runtime::Format::kDense);
  const std::vector<Case> cases = {
      {16, 32, 1, 1, 1, dense},   {16, 32, 3, 1, 1, dense},  {16, 32, 3, 2, 1, dense},
      {16, 16, 5, 1, 1, dense},   {8, 16, 7, 1, 1, dense},   {16, 32, 3, 1, 4, dense},  // grouped
      {16, 16, 3, 1, 16, dense},  {16, 16, 3, 2, 16, dense}, {16, 16, 5, 1, 16, dense},  // depthwise
      {16, 16, 5, 2, 16, dense},  {16, 16, 7, 1, 16, dense}, {16, 16, 1, 1, 16, dense},
      {16, 16, 7, 2, 16, dense},  {16, 32, 2, 2, 1, dense},
      {16, 32, 3, 1, 1, setting(runtime::Format::kBlock, 8, 4)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kBlock, 4, 2)},
      {16, 32, 1, 1, 1, setting(runtime::Format::kBlock, 16, 4)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kBlock, 1, 4)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kBlockCol, 8, 4)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kBlockCol, 2, 4)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kPattern, 8, 4, 2)},
      {16, 32, 3, 1, 1, setting(runtime::Format::kPattern, 8, 4, 3)},
      {16, 32, 1, 1, 1, setting(runtime::Format::kCsr)},
  };
  std::set<std::string> classes;
  for (const Case& t : cases) {
    graph::GraphBuilder b("one_conv");
    const std::string x = b.input("x", {1, t.c, 16, 16});
    b.output(b.conv(x, t.f, t.k, t.stride, t.groups, true, std::nullopt, 1, "conv"));
    runtime::ExecOptions o;
    o.detect_structure = false;
    if (t.ls.format != runtime::Format::kDense) o.sparsity.layers["conv"] = t.ls;
    runtime::Executor ex(b.finish(), o);
    const runtime::CompiledOp* op = nullptr;
    for (const auto& r : ex.ops())
      if (r.type == "Conv") op = &r;
    ASSERT_NE(op, nullptr);
    const kernels::ConvShape cs = shape(t.c, t.f, t.k, t.stride, t.groups);
    const std::string what = op->kernel + " for " + cs.str();
    const OpInstance mine = conv_op_instance(cs, true, graph::Activation::kNone, t.ls, 1, true, "conv");
    EXPECT_EQ(mine.k.klass, kernel_class_of(op->kernel)) << what;
    EXPECT_EQ(conv_kernel_name(cs, t.ls, kernels::active_isa()), op->kernel) << what;
    classes.insert(mine.k.klass);
  }
  // The set reaches every dense, depthwise and sparse class the cases can.
  EXPECT_EQ(classes, (std::set<std::string>{"dense_conv1x1", "dense_conv3x3", "dense_conv5x5", "dense_convkxk",
                                             "depthwise_conv3x3", "depthwise_conv5x5", "depthwise_conv7x7",
                                             "sparse_fb1", "sparse_fb2",
                                             "sparse_fb4", "sparse_fb8", "sparse_fb16"}));
}

// A 1x1 conv on a 1x1 map (squeeze-excite) runs as a GEMM over the images: the runtime prepares the
// GEMM, the cost model prices the gemm class on the GEMM's features; the gpu unit keeps it a conv.
TEST(KernelNames, AOneByOneConvOnAOnePixelMapRunsAndIsPricedAsAGemm) {
  graph::GraphBuilder b("se_conv");
  const std::string x = b.input("x", {2, 24, 1, 1});
  b.output(b.conv(x, 40, 1, 1, 1, true, std::nullopt, 1, "conv"));
  runtime::ExecOptions o;
  o.detect_structure = false;
  runtime::Executor ex(b.finish(), o);
  const runtime::CompiledOp* op = nullptr;
  for (const auto& r : ex.ops())
    if (r.type == "Conv") op = &r;
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->kernel.rfind("gemm_", 0), 0u) << op->kernel;
  kernels::ConvShape cs = shape(24, 40, 1, 1, 1);
  cs.n = 2, cs.h = cs.w = 1;
  const runtime::LayerSparsity dense;
  EXPECT_EQ(conv_kernel_name(cs, dense, kernels::active_isa()), op->kernel);
  EXPECT_EQ(conv_kernel_name(cs, dense, std::nullopt), "gemm");
  const OpInstance cpu = conv_op_instance(cs, true, graph::Activation::kNone, dense, 1, true, "conv");
  EXPECT_EQ(cpu.k.klass, "gemm");
  EXPECT_EQ(cpu.k.klass, kernel_class_of(op->kernel));
  EXPECT_EQ(features_of(cpu.k), features_of(gemm_instance(2, 40, 24, 1, true)));
  EXPECT_EQ(conv_op_instance(cs, true, graph::Activation::kNone, dense, 1, true, "conv", true).k.klass, "dense_conv1x1");
  // A 2x2 map: a GEMM over its 8 pixels (kernels::dense_conv_gemm_rows, pixel rows), named as one.
  cs.h = cs.w = 2;
  const OpInstance pix = conv_op_instance(cs, true, graph::Activation::kNone, dense, 1, true, "conv");
  EXPECT_EQ(pix.k.klass, "gemm");
  // The GEMM's terms, plus the copies its input rows and transposed output take (panel bytes).
  auto pix_f = features_of(pix.k);
  EXPECT_GT(pix_f.at("panel_bytes"), 0.0);
  EXPECT_EQ(pix_f, features_of(conv_gemm_instance(cs, 1, true)));
  pix_f["panel_bytes"] = 0.0;
  EXPECT_EQ(pix_f, features_of(gemm_instance(8, 40, 24, 1, true)));
  EXPECT_EQ(pix.k.klass, kernel_class_of(conv_kernel_name(cs, dense, kernels::active_isa())));
  cs.h = cs.w = 16;  // 256 pixels: whole strips, a conv again
  EXPECT_EQ(conv_op_instance(cs, true, graph::Activation::kNone, dense, 1, true, "conv").k.klass, "dense_conv1x1");
}

}  // namespace
}  // namespace hilsim::model
