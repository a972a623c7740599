// The gpu unit: whole zoo models on the OpenCL device (alone, and split with a CPU unit) give the
// reference executor's outputs; ops take OpenCL kernels where one exists; copies to and from the device
// are planned only where a tensor crosses; no device is a clear error naming the unit. The device
// tests skip, saying why, where no OpenCL device exists.
#include "hilsim/runtime/gpu_lowering.h"

#include <set>

#include <gtest/gtest.h>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/runtime/units.h"
#include "hilsim/util/error.h"
#include "runtime/executor_testing.h"
#include "util/expect_error.h"

namespace hilsim::runtime {
namespace {

#define SKIP_WITHOUT_OPENCL()                                                                       \
  if (std::string why = kernels::opencl::ClContext::unavailable_reason(); !why.empty())              \
  GTEST_SKIP() << "no OpenCL device: " << why

// Options for a run on `units` with the OpenCL kernels untuned: tuning every shape costs seconds on
// PoCL, and ClTuning tests it.
ExecOptions gpu_options(const std::string& units) {
  ExecOptions o;
  o.units = parse_units(units);
  o.gpu_tune = false;
  return o;
}

// Every run also copies the input to the device.
void expect_matches_reference_on_gpu(const graph::Graph& g, const ExecOptions& opts, const std::string& label) {
  expect_matches_reference(g, opts, label, [&](const Executor&, const RunTiming& t) {
    EXPECT_GT(t.transfer_ms, 0.0) << label << ": the input is copied to the device every run";
  });
}

TEST(GpuUnit, ParseUnitsKnowsTheGpuKind) {
  auto u = parse_units("cpu0:0,gpu", 2);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].kind, "cpu");
  EXPECT_EQ(u[1].kind, "gpu");
  EXPECT_TRUE(u[1].cpus.empty());
  auto p = parse_units("cpu0:0,gpu:1", 2);
  EXPECT_EQ(p[1].kind, "gpu");
  EXPECT_EQ(p[1].cpus, std::vector<int>{1});
  EXPECT_THROW(parse_units("gpu,gpu2", 2), Error);  // one device at a time
  EXPECT_THROW(parse_units("gpu:0,cpu0:0", 2), Error);  // core given twice
}

TEST(GpuUnit, ZooModelsOnTheGpuUnitMatchTheReference) {
  SKIP_WITHOUT_OPENCL();
  for (const char* name : {"resnet18_like", "mobilenetv2_like", "yolov5s_like"}) {
    graph::Graph g = small(name);
    ExecOptions o = gpu_options("gpu");
    expect_matches_reference_on_gpu(g, o, std::string(name) + "/gpu");
    Executor ex(g, o);
    int on_device = 0, convs = 0;
    for (const auto& op : ex.ops()) {
      on_device += op.kernel.rfind("ocl_", 0) == 0;
      if (op.type == "Conv") {
        ++convs;
        EXPECT_EQ(op.kernel.rfind("ocl_", 0), 0u) << name << " " << op.name << " runs " << op.kernel;
      }
      EXPECT_EQ(op.unit, "gpu");
    }
    EXPECT_GT(convs, 0);
    EXPECT_GE(on_device, convs);
  }
}

TEST(GpuUnit, SparseConvsRunTheSamePackedRowsOnTheDevice) {
  SKIP_WITHOUT_OPENCL();
  graph::Graph g = small("resnet18_like");
  ExecOptions o = gpu_options("gpu");
  o.sparsity = parse_sparsity_spec("block:8x4@0.8");
  expect_matches_reference_on_gpu(g, o, "resnet18_like/gpu/block");
  Executor ex(g, o);
  bool block = false;
  for (const auto& op : ex.ops()) block = block || op.kernel == "ocl_block_8x4";
  EXPECT_TRUE(block);
}

TEST(GpuUnit, BranchSplitWithACpuUnitMatchesTheReference) {
  SKIP_WITHOUT_OPENCL();
  graph::Graph g = small("yolov5s_like");
  ExecOptions o = gpu_options("cpu0:0,gpu");
  o.op_unit = halves(g, "cpu0", "gpu");
  std::set<std::string> used;
  for (const auto& [op, u] : o.op_unit) used.insert(u);
  ASSERT_EQ(used.size(), 2u);
  expect_matches_reference_on_gpu(g, o, "yolov5s_like/cpu+gpu");
  Executor ex(g, o);
  int device_ops = 0;
  for (const auto& op : ex.ops()) device_ops += op.unit == "gpu" && op.kernel.rfind("ocl_", 0) == 0;
  EXPECT_GT(device_ops, 0);
}

TEST(GpuUnit, CopiesOnlyWhereATensorCrossesToTheHost) {
  SKIP_WITHOUT_OPENCL();
  // resnet18_like on the gpu unit: its Gemm has no OpenCL kernel and runs on the host, so the copies
  // are the input (into the first conv) and the flattened features (out to the Gemm); the output is the
  // Gemm's, made on the host.
  graph::Graph g = small("resnet18_like");
  ExecOptions o = gpu_options("gpu");
  Executor ex(g, o);
  int copying = 0, device_ops = 0, host_ops = 0;
  int64_t bytes = 0;
  for (const auto& op : ex.ops()) {
    device_ops += op.kernel.rfind("ocl_", 0) == 0;
    host_ops += op.kernel.rfind("host_", 0) == 0;
    copying += op.transfer_bytes > 0;
    bytes += op.transfer_bytes;
  }
  EXPECT_EQ(host_ops, 1);
  EXPECT_EQ(copying, 2);
  const graph::Graph& cg = ex.compiled_graph();
  int64_t want = 0;
  for (const auto& in : cg.inputs())
    if (!cg.is_constant(in)) want += graph::numel(cg.shape(in)) * 4;
  for (graph::OpId id : cg.topological_order())
    if (cg.op(id).type == "Gemm") want += graph::numel(cg.shape(cg.op(id).inputs[0])) * 4;
  EXPECT_EQ(bytes, want);
  EXPECT_GT(device_ops, 10);
  // Each op's copy time: the two that copy report theirs, every other op none (not its clock reads).
  RunTiming t;
  ex.run(random_inputs(cg), &t);
  for (size_t i = 0; i < ex.ops().size(); ++i) {
    const auto& op = ex.ops()[i];
    if (op.transfer_bytes > 0) EXPECT_GT(t.op_transfer_ms[i], 0.0) << op.name;
    else EXPECT_EQ(t.op_transfer_ms[i], 0.0) << op.name;
  }
  for (const auto& op : ex.ops()) EXPECT_EQ(op.transfer_copies, op.transfer_bytes > 0 ? 1 : 0) << op.name;
}

TEST(GpuUnit, NoDeviceIsAClearErrorNamingTheUnit) {
  if (kernels::opencl::ClContext::unavailable_reason().empty())
    GTEST_SKIP() << "this machine has an OpenCL device (tests/cli/bad_input.sh checks the error with none)";
  ExecOptions o;
  o.units = parse_units("gpu");
  expect_error([&] { Executor ex(small("resnet18_like"), o); }, {"unit 'gpu'", "OpenCL device"});
}

TEST(GpuUnit, ChannelSplitWithACpuUnitMatchesTheReference) {
  SKIP_WITHOUT_OPENCL();
  for (const char* name : {"resnet18_like", "yolov5s_like"}) {
    graph::Graph g = small(name);
    int64_t f = 0;
    const std::string conv = largest_dense_conv(g, &f);
    ASSERT_FALSE(conv.empty()) << name;
    ExecOptions o;
    o.units = parse_units("cpu0:0,gpu:1", 0);
    o.gpu_tune = false;
    o.channel_splits[conv] = {"gpu", f / 2 + 1};  // an odd split: uneven halves
    expect_matches_reference(g, o, std::string(name) + " " + conv + " split with the gpu");
    Executor ex(g, o);
    for (const auto& op : ex.ops())
      if (op.name == conv + "/ch0") EXPECT_EQ(op.kernel.rfind("ocl_", 0), 0u) << op.kernel;
  }
}

}  // namespace
}  // namespace hilsim::runtime

namespace hilsim::runtime {
namespace {

using Ints = std::vector<int64_t>;

// Convs, device-lowered memory ops and ops only the host runs, in one graph: a split and a transpose
// (ShuffleNet's), a softmax, a Gemm, beside a concat, a per-channel add, a pool and a flatten.
graph::Graph mixed_graph() {
  graph::GraphBuilder b("mixed", 5);
  const std::string c = b.conv(b.input("x", {1, 8, 8, 8}), 8, 3, 1, 1, true, std::nullopt, 1, "conv");
  const auto halves = b.split(c, {4, 4}, 1);
  const std::string t = b.op("Transpose", {halves[0]}, {{"perm", Ints{0, 1, 3, 2}}}, 1, "transpose")[0];
  const std::string cat = b.op("Concat", {t, halves[1]}, {{"axis", int64_t{1}}}, 1, "concat")[0];
  const std::string bias = b.random_constant("bias", {8, 1, 1}, 1.0f);
  const std::string added = b.op("Add", {cat, bias}, {}, 1, "add")[0];
  const std::string pooled = b.op("MaxPool", {added}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}, 1, "pool")[0];
  const std::string flat = b.op("Flatten", {pooled}, {{"axis", int64_t{1}}}, 1, "flatten")[0];
  const std::string fc = b.gemm(flat, 10);
  b.output(b.op("Softmax", {fc}, {{"axis", int64_t{1}}}, 1, "softmax")[0]);
  return b.finish();
}

TEST(GpuUnit, TheKernelOfEveryOpIsKnownWithoutADevice) {
  // The cost model prices an op the gpu unit leaves on its host thread as a CPU kernel: it asks
  // gpu_kernel_of, which needs no OpenCL device.
  const graph::Graph g = mixed_graph();
  auto kernel = [&](const std::string& name) { return gpu_kernel_of(g, g.op(*g.find_op(name))); };
  auto kernel_of_type = [&](const std::string& type) {
    for (graph::OpId id : g.topological_order())
      if (g.op(id).type == type) return gpu_kernel_of(g, g.op(id));
    return std::string("no ") + type;
  };
  EXPECT_EQ(kernel("conv"), "ocl_conv");
  EXPECT_EQ(kernel_of_type("Split"), "host_split_copy");
  EXPECT_EQ(kernel("transpose"), "host_transpose_copy");
  EXPECT_EQ(kernel("softmax").rfind("host_softmax", 0), 0u) << kernel("softmax");
  EXPECT_EQ(kernel("concat"), "ocl_concat");
  EXPECT_EQ(kernel("add"), "ocl_add_broadcast");
  EXPECT_EQ(kernel("pool"), "ocl_max_pool2d");
  EXPECT_EQ(kernel("flatten"), "ocl_copy");
  EXPECT_EQ(kernel_of_type("Gemm"), "host_gemm");
}

TEST(GpuUnit, TheExecutorRunsEachOpWhereGpuKernelOfSays) {
  SKIP_WITHOUT_OPENCL();
  // One rule for both: every op of these graphs on the gpu unit runs on the device exactly when
  // gpu_kernel_of says "ocl_", and a memory-bound op under the very name it gives.
  for (const std::string name : {"mixed", "resnet18_like", "mobilenetv2_like", "yolov5s_like"}) {
    const graph::Graph g = name == "mixed" ? mixed_graph() : small(name);
    Executor ex(g, gpu_options("gpu"));
    const graph::Graph& cg = ex.compiled_graph();
    int host = 0;
    for (const auto& op : ex.ops()) {
      const graph::Op& o = cg.op(*cg.find_op(op.name));
      const std::string want = gpu_kernel_of(cg, o);
      EXPECT_EQ(op.kernel.substr(0, 4), want.substr(0, 4)) << name << " " << op.name << ": runs " << op.kernel;
      if (o.type != "Conv" && want != "host_gemm") EXPECT_EQ(op.kernel, want) << name << " " << op.name;
      host += want.rfind("host_", 0) == 0;
    }
    if (name == "mixed") EXPECT_GE(host, 4);  // split, transpose, gemm, softmax
  }
}

}  // namespace
}  // namespace hilsim::runtime
