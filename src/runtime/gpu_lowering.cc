#include "hilsim/runtime/gpu_lowering.h"

#include "hilsim/kernels/opencl/cl_kernels.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/op_lowering.h"

namespace hilsim::runtime {

namespace cl = kernels::opencl;
using graph::Shape;

namespace {

// An input on the device: an arena buffer's device copy, or a constant uploaded once.
struct DevOperand {
  int buffer = -1;
  cl::ClBufferPtr constant;
  Shape shape;
};

DevOperand dev_operand(const graph::Graph& g, const graph::Op& op, size_t i, const std::vector<int>& in) {
  DevOperand o;
  const std::string& name = op.inputs.at(i);
  o.shape = g.shape(name);
  if (const graph::Tensor* c = g.constant(name)) {
    if (c->dtype != graph::DType::kFloat32) return o;  // buffer -1 and no constant: not lowered
    o.constant = cl::to_device(c->f32);
  } else {
    o.buffer = in.at(i);
  }
  return o;
}

bool usable(const DevOperand& o) { return o.constant || o.buffer >= 0; }

// How operand b broadcasts against the output shape y (the CPU kernel's fast cases).
std::optional<cl::ClBroadcast> broadcast_of(const Shape& b, const Shape& y, int64_t* channels, int64_t* inner) {
  const int64_t nb = graph::numel(b), ny = graph::numel(y);
  if (b == y) return cl::ClBroadcast::kSame;
  if (nb == 1) return cl::ClBroadcast::kScalar;
  // [c, 1, 1] or [1, c, 1, 1] against [n, c, h, w].
  if (y.size() == 4 && nb == y[1] && b.size() >= 3 && b[b.size() - 1] == 1 && b[b.size() - 2] == 1 &&
      b[b.size() - 3] == y[1]) {
    *channels = y[1];
    *inner = ny / (y[0] * y[1]);
    return cl::ClBroadcast::kPerChannel;
  }
  return std::nullopt;
}

// An input an OpenCL kernel can read: a tensor the graph computes, or an fp32 constant (uploaded once).
bool device_readable(const graph::Graph& g, const graph::Op& op, size_t i) {
  if (i >= op.inputs.size() || op.inputs[i].empty()) return false;
  const graph::Tensor* c = g.constant(op.inputs[i]);
  return !c || c->dtype == graph::DType::kFloat32;
}

bool computed(const graph::Graph& g, const graph::Op& op, size_t i) {
  return i < op.inputs.size() && !op.inputs[i].empty() && !g.constant(op.inputs[i]);
}

}  // namespace

bool gpu_takes_memory_op(const graph::Graph& g, const graph::Op& op, const std::string& cpu_kernel) {
  if (op.outputs.size() != 1 || op.outputs[0].empty()) return false;
  const Shape ys = g.shape(op.outputs[0]);
  if (cpu_kernel == "add_broadcast" || cpu_kernel == "mul_broadcast" || cpu_kernel == "sub_broadcast" ||
      cpu_kernel == "div_broadcast") {
    if (op.inputs.size() != 2 || !device_readable(g, op, 0) || !device_readable(g, op, 1)) return false;
    Shape a = g.shape(op.inputs[0]), b = g.shape(op.inputs[1]);
    // The full-size operand goes first; only add and mul may swap.
    if (a != ys && b == ys && (op.type == "Add" || op.type == "Mul")) std::swap(a, b);
    int64_t channels = 1, inner = 1;
    return a == ys && broadcast_of(b, ys, &channels, &inner).has_value();
  }
  if (cpu_kernel == "max_pool2d" || cpu_kernel == "avg_pool2d") return computed(g, op, 0) && pool2d_shape_of(g, op);
  if (cpu_kernel == "concat") {
    for (size_t i = 0; i < op.inputs.size(); ++i)
      if (!device_readable(g, op, i)) return false;
    int64_t axis = op.attr_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(ys.size());
    return axis >= 0 && axis < static_cast<int64_t>(ys.size());
  }
  if (cpu_kernel == "resize_nearest") return computed(g, op, 0) && ys.size() == 4;
  if (cpu_kernel == "global_avg_pool" || cpu_kernel == "copy") return computed(g, op, 0);
  return false;
}

std::string gpu_kernel_of(const graph::Graph& g, const graph::Op& op) {
  // Convs run on the device in every format (dense, depthwise, the packed kept-column rows).
  if (op.type == "Conv" && op.inputs.size() >= 2 && g.is_constant(op.inputs[1])) return "ocl_conv";
  if ((op.type == "Gemm" || op.type == "MatMul") && op.inputs.size() >= 2 && g.is_constant(op.inputs[1]) &&
      g.shape(op.inputs[1]).size() == 2)
    return "host_gemm";
  // The CPU lowering's choice, as the executor makes it (the closures are built, never run).
  std::vector<int> in(op.inputs.size()), out(op.outputs.size());
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int>(in.size() + i);
  const std::string k = lower_memory_op(g, op, in, out, [](int) -> float* { return nullptr; }).kernel;
  return (gpu_takes_memory_op(g, op, k) ? "ocl_" : "host_") + k;
}

std::optional<GpuLoweredOp> lower_gpu_memory_op(const graph::Graph& g, const graph::Op& op, const std::string& cpu_kernel,
                                                const std::vector<int>& in, const std::vector<int>& out,
                                                DeviceAddress dev) {
  // One rule for the executor and the cost model (gpu_kernel_of): what it refuses runs on the host.
  if (!gpu_takes_memory_op(g, op, cpu_kernel)) return std::nullopt;
  if (out.empty() || out[0] < 0 || op.outputs.size() != 1) return std::nullopt;
  const int y = out[0];
  const Shape ys = g.shape(op.outputs[0]);
  const std::string& t = op.type;
  GpuLoweredOp l;
  l.kernel = "ocl_" + cpu_kernel;

  if (cpu_kernel == "add_broadcast" || cpu_kernel == "mul_broadcast" || cpu_kernel == "sub_broadcast" ||
      cpu_kernel == "div_broadcast") {
    DevOperand a = dev_operand(g, op, 0, in), b = dev_operand(g, op, 1, in);
    if (!usable(a) || !usable(b)) return std::nullopt;
    const auto kind = t == "Add" ? kernels::BinaryOp::kAdd
                      : t == "Mul" ? kernels::BinaryOp::kMul
                      : t == "Sub" ? kernels::BinaryOp::kSub : kernels::BinaryOp::kDiv;
    // The full-size operand goes first; only add and mul may swap.
    if (a.shape != ys && b.shape == ys && (kind == kernels::BinaryOp::kAdd || kind == kernels::BinaryOp::kMul))
      std::swap(a, b);
    if (a.shape != ys) return std::nullopt;
    int64_t channels = 1, inner = 1;
    auto mode = broadcast_of(b.shape, ys, &channels, &inner);
    if (!mode) return std::nullopt;
    const int64_t n = graph::numel(ys);
    const kernels::Epilogue ep = epilogue_of(op);
    l.fn = [=] {
      const cl::ClBuffer& da = a.constant ? *a.constant : dev(a.buffer);
      const cl::ClBuffer& db = b.constant ? *b.constant : dev(b.buffer);
      return cl::cl_binary(kind, da, db, *mode, n, channels, inner, dev(y), ep);
    };
    return l;
  }
  if (cpu_kernel == "max_pool2d" || cpu_kernel == "avg_pool2d") {
    auto ps = pool2d_shape_of(g, op);
    DevOperand x = dev_operand(g, op, 0, in);
    if (!ps || x.buffer < 0) return std::nullopt;
    const kernels::Pool2dShape s = *ps;
    const bool is_max = cpu_kernel == "max_pool2d";
    l.fn = [=] { return cl::cl_pool2d(is_max, s, dev(x.buffer), dev(y)); };
    return l;
  }
  if (cpu_kernel == "global_avg_pool") {
    DevOperand x = dev_operand(g, op, 0, in);
    if (x.buffer < 0) return std::nullopt;
    const int64_t planes = x.shape[0] * x.shape[1], size = graph::numel(x.shape) / planes;
    l.fn = [=] { return cl::cl_global_avg_pool(planes, size, dev(x.buffer), dev(y)); };
    return l;
  }
  if (cpu_kernel == "concat") {
    std::vector<DevOperand> xs;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      xs.push_back(dev_operand(g, op, i, in));
      if (!usable(xs.back())) return std::nullopt;
    }
    int64_t axis = op.attr_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(ys.size());
    if (axis < 0 || axis >= static_cast<int64_t>(ys.size())) return std::nullopt;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= ys[static_cast<size_t>(d)];
    const int64_t dst_inner = outer ? graph::numel(ys) / outer : 0;
    l.fn = [=] {
      double ms = 0;
      int64_t offset = 0;
      for (const auto& x : xs) {
        const int64_t src_inner = outer ? graph::numel(x.shape) / outer : 0;
        ms += cl::cl_copy_block(x.constant ? *x.constant : dev(x.buffer), dev(y), outer, src_inner, dst_inner, offset);
        offset += src_inner;
      }
      return ms;
    };
    return l;
  }
  if (cpu_kernel == "resize_nearest") {
    DevOperand x = dev_operand(g, op, 0, in);
    if (x.buffer < 0) return std::nullopt;
    // The CPU kernel's index rule (integer scales): iy = floor(oy * h / out_h).
    std::vector<int32_t> iy(static_cast<size_t>(ys[2])), ix(static_cast<size_t>(ys[3]));
    for (int64_t o = 0; o < ys[2]; ++o) iy[static_cast<size_t>(o)] = static_cast<int32_t>(o * x.shape[2] / ys[2]);
    for (int64_t o = 0; o < ys[3]; ++o) ix[static_cast<size_t>(o)] = static_cast<int32_t>(o * x.shape[3] / ys[3]);
    l.fn = [=] {
      return cl::cl_resize_gather(x.shape[0] * x.shape[1], x.shape[2], x.shape[3], ys[2], ys[3], iy, ix,
                                  dev(x.buffer), dev(y));
    };
    return l;
  }
  if (cpu_kernel == "copy") {
    DevOperand x = dev_operand(g, op, 0, in);
    if (x.buffer < 0) return std::nullopt;
    const int64_t n = graph::numel(ys);
    l.fn = [=] { return cl::cl_copy_block(dev(x.buffer), dev(y), 1, n, n, 0); };
    return l;
  }
  return std::nullopt;
}

}  // namespace hilsim::runtime
