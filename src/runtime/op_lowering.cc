#include "hilsim/runtime/op_lowering.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "hilsim/kernels/memory_ops.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

using graph::Graph;
using graph::Op;
using graph::Shape;

namespace {

struct Operand {
  const float* constant = nullptr;  // constant data, or
  int buffer = -1;                  // an arena buffer
  Shape shape;
};

Operand operand(const Graph& g, const Op& op, size_t i, const std::vector<int>& in) {
  Operand o;
  const std::string& name = op.inputs.at(i);
  o.shape = g.shape(name);
  if (const graph::Tensor* c = g.constant(name)) {
    if (c->dtype != graph::DType::kFloat32)
      throw Error("node '" + op.name + "'", "input '" + name + "' is not fp32");
    o.constant = c->f32.data();
  } else {
    o.buffer = in.at(i);
  }
  return o;
}

kernels::Epilogue standalone_activation(const Graph& g, const Op& op, bool* ok) {
  kernels::Epilogue e;
  *ok = true;
  if (op.type == "Relu") {
    e.act = kernels::Act::kRelu;
  } else if (op.type == "Sigmoid") {
    e.act = kernels::Act::kSigmoid;
  } else if (op.type == "HardSwish") {
    e.act = kernels::Act::kHardSwish;
  } else if (op.type == "HardSigmoid") {
    e.act = kernels::Act::kHardSigmoid;
    e.alpha = op.attr_float("alpha", 0.2f);
    e.beta = op.attr_float("beta", 0.5f);
  } else if (op.type == "Clip") {
    e.act = kernels::Act::kClip;
    e.min = op.attr_float("min", -INFINITY);
    e.max = op.attr_float("max", INFINITY);
    auto bound = [&](size_t i, float* v) {
      if (auto n = op.input(i)) {
        const graph::Tensor* t = g.constant(*n);
        if (!t || t->f32.empty()) *ok = false; else *v = t->f32[0];
      }
    };
    bound(1, &e.min);
    bound(2, &e.max);
  } else {
    *ok = false;
  }
  return e;
}

// The reference implementation of one op, on a graph holding just that op. Built once at compile
// time; each run copies the inputs in and the outputs back.
LoweredOp reference_fallback(const Graph& g, const Op& op, const std::vector<int>& in, const std::vector<int>& out,
                             BufferAddress address) {
  auto mini = std::make_shared<Graph>();
  mini->opset = g.opset;
  mini->name = op.name;
  std::vector<std::pair<std::string, int>> feeds;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const std::string& n = op.inputs[i];
    if (n.empty()) continue;
    if (const graph::Tensor* c = g.constant(n)) {
      mini->set_constant(*c);
    } else if (!mini->tensor_info(n)) {
      const graph::TensorInfo* ti = g.tensor_info(n);
      mini->add_input(*ti);
      feeds.emplace_back(n, in.at(i));
    }
  }
  mini->add_op(op);
  std::vector<std::pair<std::string, int>> results;
  for (size_t i = 0; i < op.outputs.size(); ++i) {
    if (op.outputs[i].empty()) continue;
    mini->add_output(op.outputs[i]);
    mini->set_tensor_info(*g.tensor_info(op.outputs[i]));
    results.emplace_back(op.outputs[i], out.at(i));
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [n, b] : feeds) shapes[n] = g.shape(n);
  for (const auto& [n, b] : results) shapes[n] = g.shape(n);
  LoweredOp l;
  l.kernel = "reference";
  l.fn = [mini, feeds, results, shapes, address, name = op.name](kernels::ThreadPool&) {
    TensorMap inputs;
    for (const auto& [n, b] : feeds) {
      graph::Tensor t;
      t.name = n;
      t.shape = shapes.at(n);
      const float* p = address(b);
      t.f32.assign(p, p + graph::numel(t.shape));
      inputs[n] = std::move(t);
    }
    TensorMap outs = run_reference(*mini, inputs);
    for (const auto& [n, b] : results) {
      const graph::Tensor& t = outs.at(n);
      if (static_cast<int64_t>(t.f32.size()) != graph::numel(shapes.at(n)))
        throw Error("node '" + name + "'", "reference result for '" + n + "' has an unexpected size");
      std::memcpy(address(b), t.f32.data(), t.f32.size() * 4);
    }
  };
  return l;
}

// Nearest resize that maps output x to input floor(x / s) for integer upscale s: true for Upsample,
// for Resize asymmetric+floor, and for half_pixel with round_prefer_* (the torch default export).
bool integer_nearest(const Graph& g, const Op& op, const Shape& x, const Shape& y) {
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1]) return false;
  if (y[2] % x[2] != 0 || y[3] % x[3] != 0) return false;
  if (op.attr_string("mode", "nearest") != "nearest") return false;
  if (op.type == "Upsample") return true;
  std::string ct = op.attr_string("coordinate_transformation_mode", "half_pixel");
  std::string nm = op.attr_string("nearest_mode", "round_prefer_floor");
  if (ct == "asymmetric") return nm == "floor";
  if (ct == "half_pixel" || ct == "pytorch_half_pixel") return nm == "round_prefer_floor" || nm == "round_prefer_ceil";
  return false;
}

}  // namespace

std::optional<kernels::Pool2dShape> pool2d_shape_of(const Graph& g, const Op& op) {
  if ((op.type != "MaxPool" && op.type != "AveragePool") || op.inputs.empty() || op.outputs.size() != 1 ||
      g.shape(op.inputs[0]).size() != 4 || op.attr_ints("dilations", {1, 1}) != std::vector<int64_t>{1, 1})
    return std::nullopt;
  const std::string where = "node '" + op.name + "'";
  const Shape& xs = g.shape(op.inputs[0]);
  const Shape& ys = g.shape(op.outputs[0]);
  if (ys.size() != 4) throw Error(where, "pool output must be 4-D");
  kernels::Pool2dShape s;
  s.n = xs[0], s.c = xs[1], s.h = xs[2], s.w = xs[3];
  auto k = op.attr_ints("kernel_shape");
  auto st = op.attr_ints("strides", {1, 1});
  if (k.size() != 2) throw Error(where, "kernel_shape must have 2 values");
  if (st.size() != 2) throw Error(where, "strides must have 2 values");
  s.kh = k[0], s.kw = k[1], s.stride_h = st[0], s.stride_w = st[1];
  std::string ap = op.attr_string("auto_pad", "NOTSET");
  s.out_h = ys[2], s.out_w = ys[3];
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    int64_t th = std::max<int64_t>(0, (s.out_h - 1) * s.stride_h + s.kh - s.h);
    int64_t tw = std::max<int64_t>(0, (s.out_w - 1) * s.stride_w + s.kw - s.w);
    s.pad_top = ap == "SAME_UPPER" ? th / 2 : th - th / 2, s.pad_bottom = th - s.pad_top;
    s.pad_left = ap == "SAME_UPPER" ? tw / 2 : tw - tw / 2, s.pad_right = tw - s.pad_left;
  } else if (ap != "VALID") {
    auto p = op.attr_ints("pads", {0, 0, 0, 0});
    if (p.size() != 4) throw Error(where, "pads must have 4 values");
    s.pad_top = p[0], s.pad_left = p[1], s.pad_bottom = p[2], s.pad_right = p[3];
  }
  s.count_include_pad = op.attr_int("count_include_pad", 0) != 0;
  s.validate();
  return s;
}

LoweredOp lower_memory_op(const Graph& g, const Op& op, const std::vector<int>& in, const std::vector<int>& out,
                          BufferAddress address) {
  const std::string& t = op.type;
  std::string where = "node '" + op.name + "'";
  for (const auto& o : op.outputs)
    if (!o.empty() && g.tensor_info(o) && g.tensor_info(o)->dtype != graph::DType::kFloat32)
      return reference_fallback(g, op, in, out, address);
  int y = out.empty() ? -1 : out[0];
  LoweredOp l;

  if ((t == "Add" || t == "Mul") && op.inputs.size() == 2) {
    Operand a = operand(g, op, 0, in), b = operand(g, op, 1, in);
    auto kind = t == "Add" ? kernels::BinaryOp::kAdd : kernels::BinaryOp::kMul;
    kernels::Epilogue ep = epilogue_of(op);
    l.kernel = std::string(t == "Add" ? "add" : "mul") + "_broadcast";
    l.fn = [=](kernels::ThreadPool& pool) {
      const float* pa = a.constant ? a.constant : address(a.buffer);
      const float* pb = b.constant ? b.constant : address(b.buffer);
      kernels::binary_op(kind, a.shape, pa, b.shape, pb, address(y), pool, ep);
    };
    return l;
  }
  bool is_act = false;
  kernels::Epilogue act = standalone_activation(g, op, &is_act);
  if (is_act) {
    Operand x = operand(g, op, 0, in);
    int64_t n = graph::numel(x.shape);
    l.kernel = std::string("act_") + kernels::act_name(act.act);
    l.fn = [=](kernels::ThreadPool& pool) {
      const float* px = x.constant ? x.constant : address(x.buffer);
      float* py = address(y);
      if (px != py) std::memcpy(py, px, static_cast<size_t>(n) * 4);
      kernels::activation_inplace(act, py, n, pool);
    };
    return l;
  }
  if (t == "Concat") {
    std::vector<Operand> xs;
    for (size_t i = 0; i < op.inputs.size(); ++i) xs.push_back(operand(g, op, i, in));
    int64_t axis = op.attr_int("axis", 1);
    l.kernel = "concat";
    l.fn = [=](kernels::ThreadPool& pool) {
      std::vector<const float*> ptrs;
      std::vector<std::vector<int64_t>> shapes;
      for (const auto& x : xs) {
        ptrs.push_back(x.constant ? x.constant : address(x.buffer));
        shapes.push_back(x.shape);
      }
      kernels::concat(ptrs, shapes, axis, address(y), pool);
    };
    return l;
  }
  if (auto ps = (t == "MaxPool" || t == "AveragePool") ? pool2d_shape_of(g, op) : std::nullopt) {
    Operand x = operand(g, op, 0, in);
    const kernels::Pool2dShape s = *ps;
    bool is_max = t == "MaxPool";
    l.kernel = is_max ? "max_pool2d" : "avg_pool2d";
    l.fn = [=](kernels::ThreadPool& pool) {
      const float* px = x.constant ? x.constant : address(x.buffer);
      if (is_max) kernels::max_pool2d(s, px, address(y), pool); else kernels::avg_pool2d(s, px, address(y), pool);
    };
    return l;
  }
  if (t == "GlobalAveragePool" && g.shape(op.inputs[0]).size() >= 3) {
    Operand x = operand(g, op, 0, in);
    int64_t hw = graph::numel(x.shape) / (x.shape[0] * x.shape[1]);
    l.kernel = "global_avg_pool";
    l.fn = [=](kernels::ThreadPool& pool) {
      kernels::global_avg_pool(x.shape[0], x.shape[1], hw, x.constant ? x.constant : address(x.buffer), address(y), pool);
    };
    return l;
  }
  if ((t == "Resize" || t == "Upsample") && integer_nearest(g, op, g.shape(op.inputs[0]), g.shape(op.outputs[0]))) {
    Operand x = operand(g, op, 0, in);
    Shape ys = g.shape(op.outputs[0]);
    l.kernel = "resize_nearest";
    l.fn = [=](kernels::ThreadPool& pool) {
      kernels::resize_nearest(x.shape[0], x.shape[1], x.shape[2], x.shape[3], ys[2], ys[3],
                              x.constant ? x.constant : address(x.buffer), address(y), pool);
    };
    return l;
  }
  if (t == "Reshape" || t == "Flatten" || t == "Identity" || t == "Dropout" || t == "Squeeze" || t == "Unsqueeze") {
    Operand x = operand(g, op, 0, in);
    int64_t n = graph::numel(x.shape);
    if (n != graph::numel(g.shape(op.outputs[0]))) throw Error(where, "changes the element count");
    // A copy, not an alias: the arena plan treats every tensor as its own buffer, which keeps the
    // lifetime analysis simple; these copies are visible (and small) in the per-op table.
    l.kernel = "copy";
    l.fn = [=](kernels::ThreadPool&) {
      std::memcpy(address(y), x.constant ? x.constant : address(x.buffer), static_cast<size_t>(n) * 4);
    };
    return l;
  }
  return reference_fallback(g, op, in, out, address);
}

}  // namespace hilsim::runtime
