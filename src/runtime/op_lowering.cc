#include "hilsim/runtime/op_lowering.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>
#include <map>
#include <set>

#include "hilsim/graph/slice_range.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/layout_ops.h"
#include "hilsim/kernels/math_ops.h"
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

// Integer values of a constant input (or nullopt when absent or computed at run time).
std::optional<std::vector<int64_t>> const_ints(const Graph& g, const Op& op, size_t i) {
  auto n = op.input(i);
  if (!n) return std::nullopt;
  const graph::Tensor* t = g.constant(*n);
  if (!t) return std::nullopt;
  if (t->dtype == graph::DType::kFloat32) return std::nullopt;
  return t->i64;
}

// An ints attribute, else input i's constant values (later opsets moved pads and axes from
// attributes to inputs); empty when neither is given, nullopt when the input is computed at run time.
std::optional<std::vector<int64_t>> attr_or_input_ints(const Graph& g, const Op& op, const char* attr, size_t i) {
  if (op.has_attr(attr)) return op.attr_ints(attr);
  if (!op.input(i)) return std::vector<int64_t>{};
  return const_ints(g, op, i);
}

const graph::Tensor* const_floats(const Graph& g, const Op& op, size_t i) {
  auto n = op.input(i);
  if (!n) return nullptr;
  const graph::Tensor* t = g.constant(*n);
  return t && t->dtype == graph::DType::kFloat32 ? t : nullptr;
}

int64_t norm_axis(int64_t a, int64_t rank, const std::string& where) {
  if (a < -rank || a >= rank)
    throw Error(where, "axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
  return a < 0 ? a + rank : a;
}

// Inference batch norm as one affine pass: scale and shift folded from the four statistics once here.
std::optional<LoweredOp> lower_batchnorm(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                         BufferAddress address) {
  if (op.inputs.size() < 5 || op.attr_int("training_mode", 0) != 0) return std::nullopt;
  for (size_t i = 1; i < op.outputs.size(); ++i)
    if (!op.outputs[i].empty()) return std::nullopt;
  const graph::Tensor *gamma = const_floats(g, op, 1), *beta = const_floats(g, op, 2), *mean = const_floats(g, op, 3),
                      *var = const_floats(g, op, 4);
  if (!gamma || !beta || !mean || !var) return std::nullopt;
  Operand x = operand(g, op, 0, in);
  if (x.shape.size() < 2) throw Error("node '" + op.name + "'", "BatchNormalization needs rank >= 2");
  const int64_t n = x.shape[0], c = x.shape[1], inner = graph::numel(x.shape) / std::max<int64_t>(1, n * c);
  if (gamma->numel() != c || beta->numel() != c || mean->numel() != c || var->numel() != c)
    throw Error("node '" + op.name + "'", "statistics do not have one value per channel (" + std::to_string(c) + ")");
  const double eps = op.attr_float("epsilon", 1e-5f);
  auto scale = std::make_shared<std::vector<float>>(static_cast<size_t>(c));
  auto shift = std::make_shared<std::vector<float>>(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    const double s = gamma->f32[i] / std::sqrt(static_cast<double>(var->f32[i]) + eps);
    (*scale)[i] = static_cast<float>(s);
    (*shift)[i] = static_cast<float>(beta->f32[i] - mean->f32[i] * s);
  }
  const kernels::Epilogue ep = epilogue_of(op);
  LoweredOp l;
  l.kernel = ep.act == kernels::Act::kNone ? "batchnorm_affine"
                                           : std::string("batchnorm_affine_") + kernels::act_name(ep.act);
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::channel_affine(n, c, inner, x.constant ? x.constant : address(x.buffer), scale->data(), shift->data(),
                            address(y), pool, ep);
  };
  return l;
}

LoweredOp copy_op(const std::string& kernel, Operand x, kernels::StridedCopy c, int y, BufferAddress address) {
  LoweredOp l;
  l.kernel = kernel;
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::strided_copy(c, x.constant ? x.constant : address(x.buffer), address(y), pool);
  };
  return l;
}

// The output shape the lowering computed must be the one shape inference gave the arena buffer.
void check_shape(const Graph& g, const Op& op, const std::string& out, const Shape& got) {
  if (graph::numel(got) != graph::numel(g.shape(out)))
    throw Error("node '" + op.name + "'", "computed output '" + out + "' of a size different from shape inference");
}

std::optional<LoweredOp> lower_slice(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                     BufferAddress address) {
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::string where = "node '" + op.name + "'";
  std::vector<int64_t> starts, ends, axes, steps;
  if (op.has_attr("starts")) {  // opset < 10
    starts = op.attr_ints("starts");
    ends = op.attr_ints("ends");
    axes = op.attr_ints("axes");
  } else {
    auto s = const_ints(g, op, 1), e = const_ints(g, op, 2);
    auto a = attr_or_input_ints(g, op, "axes", 3), st = attr_or_input_ints(g, op, "steps", 4);
    if (!s || !e || !a || !st) return std::nullopt;
    starts = *s, ends = *e, axes = *a, steps = *st;
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw Error(where, "starts/ends/axes/steps differ in length");
  std::vector<int64_t> st(rank, 0), sp(rank, 1);
  Shape os = x.shape;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(axes[i], rank, where), dim = x.shape[a], step = steps[i];
    if (step == 0) throw Error(where, "step 0");
    const graph::SliceRange r = graph::slice_range(dim, starts[i], ends[i], step);
    os[a] = r.count;
    st[a] = r.count > 0 ? r.start : 0;
    sp[a] = step;
  }
  check_shape(g, op, op.outputs[0], os);
  return copy_op("slice_copy", x, kernels::make_slice(x.shape, st, sp, os), y, address);
}

// Split as one strided copy per output; the sizes are the ones shape inference gave the outputs.
LoweredOp lower_split(const Graph& g, const Op& op, const std::vector<int>& in, const std::vector<int>& out,
                      BufferAddress address) {
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(op.attr_int("axis", 0), rank, "node '" + op.name + "'");
  std::vector<std::pair<kernels::StridedCopy, int>> parts;
  int64_t off = 0;
  for (size_t k = 0; k < op.outputs.size(); ++k) {
    if (op.outputs[k].empty()) continue;
    const Shape& os = g.shape(op.outputs[k]);
    std::vector<int64_t> st(rank, 0), sp(rank, 1);
    st[axis] = os[axis] > 0 ? off : 0;
    parts.emplace_back(kernels::make_slice(x.shape, st, sp, os), out.at(k));
    off += os[axis];
  }
  if (off != x.shape[axis]) throw Error("node '" + op.name + "'", "outputs do not cover the split axis");
  LoweredOp l;
  l.kernel = "split_copy";
  l.fn = [=](kernels::ThreadPool& pool) {
    const float* px = x.constant ? x.constant : address(x.buffer);
    for (const auto& [c, b] : parts) kernels::strided_copy(c, px, address(b), pool);
  };
  return l;
}

std::optional<LoweredOp> lower_pad(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                   BufferAddress address) {
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::string where = "node '" + op.name + "'";
  auto given = attr_or_input_ints(g, op, "pads", 1);
  if (!given) return std::nullopt;
  std::vector<int64_t> pads = *given;
  if (op.input(3)) {  // opset 18 axes: pads cover only these
    auto axes = const_ints(g, op, 3);
    if (!axes) return std::nullopt;
    if (pads.size() != 2 * axes->size()) throw Error(where, "pads do not match axes");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t i = 0; i < axes->size(); ++i) {
      const int64_t a = norm_axis((*axes)[i], rank, where);
      full[a] = pads[i];
      full[a + rank] = pads[i + axes->size()];
    }
    pads = full;
  }
  kernels::PadShape s;
  s.in_shape = x.shape;
  s.pads = pads;
  s.value = op.attr_float("value", 0.0f);
  if (op.input(2)) {
    const graph::Tensor* v = const_floats(g, op, 2);
    if (!v) return std::nullopt;
    if (!v->f32.empty()) s.value = v->f32[0];
  }
  try {
    s.mode = kernels::pad_mode_of(op.attr_string("mode", "constant"));
    s.validate();
  } catch (const Error& e) {
    throw Error(where, e.detail());
  }
  check_shape(g, op, op.outputs[0], s.out_shape());
  LoweredOp l;
  l.kernel = "pad_" + op.attr_string("mode", "constant");
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::pad(s, x.constant ? x.constant : address(x.buffer), address(y), pool);
  };
  return l;
}

std::optional<LoweredOp> lower_reduce(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                      BufferAddress address) {
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::string where = "node '" + op.name + "'";
  auto given = attr_or_input_ints(g, op, "axes", 1);
  if (!given) return std::nullopt;
  const std::vector<int64_t> axes = *given;
  if (axes.empty() && op.attr_int("noop_with_empty_axes", 0) != 0) {
    check_shape(g, op, op.outputs[0], x.shape);
    const int64_t n = graph::numel(x.shape);
    LoweredOp l;
    l.kernel = "copy";
    l.fn = [=](kernels::ThreadPool&) {
      std::memcpy(address(y), x.constant ? x.constant : address(x.buffer), static_cast<size_t>(n) * 4);
    };
    return l;
  }
  std::set<int64_t> red;
  for (int64_t a : axes) red.insert(norm_axis(a, rank, where));
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) red.insert(d);
  int64_t kept = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (!red.count(d)) kept *= x.shape[d];
  check_shape(g, op, op.outputs[0], {kept});
  const auto kind = op.type == "ReduceMean" ? kernels::ReduceOp::kMean
                    : op.type == "ReduceSum" ? kernels::ReduceOp::kSum : kernels::ReduceOp::kMax;
  // Runs of kept / reduced dims (size-1 dims dropped): [K R K] and its sub-patterns are one reduce call.
  std::vector<std::pair<bool, int64_t>> runs;
  for (int64_t d = 0; d < rank; ++d) {
    if (x.shape[d] == 1) continue;
    const bool r = red.count(d) != 0;
    if (!runs.empty() && runs.back().first == r) runs.back().second *= x.shape[d];
    else runs.emplace_back(r, x.shape[d]);
  }
  if (graph::numel(x.shape) == 0) return std::nullopt;
  int64_t outer = 1, mid = 1, inner = 1;
  size_t i = 0;
  if (i < runs.size() && !runs[i].first) outer = runs[i++].second;
  if (i < runs.size() && runs[i].first) mid = runs[i++].second;
  if (i < runs.size() && !runs[i].first) inner = runs[i++].second;
  LoweredOp l;
  if (i == runs.size()) {
    if (kind == kernels::ReduceOp::kMean && inner == 1) {
      // Global pooling as exported (ReduceMean over H, W): the pool kernel itself.
      l.kernel = "global_avg_pool";
      l.fn = [=](kernels::ThreadPool& pool) {
        kernels::global_avg_pool(1, outer, mid, x.constant ? x.constant : address(x.buffer), address(y), pool);
      };
    } else {
      l.kernel = std::string("reduce_") +
                 (kind == kernels::ReduceOp::kMean ? "mean" : kind == kernels::ReduceOp::kSum ? "sum" : "max");
      l.fn = [=](kernels::ThreadPool& pool) {
        kernels::reduce(kind, outer, mid, inner, x.constant ? x.constant : address(x.buffer), address(y), pool);
      };
    }
    return l;
  }
  // Any other set of axes: offsets of one output's reduced elements, and each output's first element.
  std::vector<int64_t> xst(rank, 1);
  for (int64_t d = rank - 1; d > 0; --d) xst[d - 1] = xst[d] * x.shape[d];
  std::vector<int64_t> offsets{0}, bases{0};
  for (int64_t d = 0; d < rank; ++d) {
    std::vector<int64_t>& v = red.count(d) ? offsets : bases;
    std::vector<int64_t> next;
    next.reserve(v.size() * static_cast<size_t>(x.shape[d]));
    for (int64_t o : v)
      for (int64_t k = 0; k < x.shape[d]; ++k) next.push_back(o + k * xst[d]);
    v = std::move(next);
  }
  auto pb = std::make_shared<std::vector<int64_t>>(std::move(bases));
  auto po = std::make_shared<std::vector<int64_t>>(std::move(offsets));
  l.kernel = "reduce_gather";
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::reduce_gather(kind, *pb, *po, x.constant ? x.constant : address(x.buffer), address(y), pool);
  };
  return l;
}

// Resize/Upsample linear on the two trailing dims of NCHW, with the op's own scales.
std::optional<LoweredOp> lower_resize_linear(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                             BufferAddress address) {
  std::string mode = op.attr_string("mode", "nearest");
  if (mode != "linear" && mode != "bilinear") return std::nullopt;
  Operand x = operand(g, op, 0, in);
  const Shape& ys = g.shape(op.outputs[0]);
  if (x.shape.size() != 4 || ys.size() != 4 || x.shape[0] != ys[0] || x.shape[1] != ys[1]) return std::nullopt;
  const bool old = op.type == "Upsample" || g.opset < 11;
  std::vector<double> scales;
  if (old) {
    if (op.has_attr("scales")) {
      for (float v : op.attr_floats("scales")) scales.push_back(v);
    } else if (const graph::Tensor* t = const_floats(g, op, 1)) {
      for (float v : t->f32) scales.push_back(v);
    }
  } else if (op.input(3) && g.constant(*op.input(3)) && g.constant(*op.input(3))->numel() > 0) {
    for (size_t d = 0; d < 4; ++d) scales.push_back(static_cast<double>(ys[d]) / x.shape[d]);
  } else if (const graph::Tensor* t = const_floats(g, op, 2)) {
    for (float v : t->f32) scales.push_back(v);
  }
  if (scales.size() != 4) return std::nullopt;
  const std::string coord = old ? "asymmetric" : op.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" && coord != "asymmetric")
    return std::nullopt;
  auto ty = std::make_shared<kernels::LinearTaps>(kernels::linear_taps(x.shape[2], ys[2], scales[2], coord));
  auto tx = std::make_shared<kernels::LinearTaps>(kernels::linear_taps(x.shape[3], ys[3], scales[3], coord));
  LoweredOp l;
  l.kernel = "resize_bilinear";
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::resize_linear(x.shape[0] * x.shape[1], x.shape[2], x.shape[3], ys[2], ys[3], *ty, *tx,
                           x.constant ? x.constant : address(x.buffer), address(y), pool);
  };
  return l;
}

std::optional<LoweredOp> lower_layer_norm(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                          BufferAddress address) {
  for (size_t i = 1; i < op.outputs.size(); ++i)
    if (!op.outputs[i].empty()) return std::nullopt;  // Mean / InvStdDev outputs: the reference computes them
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(op.attr_int("axis", -1), rank, "node '" + op.name + "'");
  const int64_t width = graph::numel(Shape(x.shape.begin() + axis, x.shape.end()));
  const int64_t rows = graph::numel(x.shape) / std::max<int64_t>(width, 1);
  const graph::Tensor* scale = const_floats(g, op, 1);
  const graph::Tensor* bias = op.input(2) ? const_floats(g, op, 2) : nullptr;
  if (!scale || scale->numel() != width || (op.input(2) && (!bias || bias->numel() != width)) || width == 0)
    return std::nullopt;  // broadcast scale / bias shapes: the reference handles them
  const float eps = op.attr_float("epsilon", 1e-5f);
  const float* ps = scale->f32.data();
  const float* pbias = bias ? bias->f32.data() : nullptr;
  LoweredOp l;
  l.kernel = "layer_norm";
  l.fn = [=](kernels::ThreadPool& pool) {
    kernels::layer_norm(rows, width, x.constant ? x.constant : address(x.buffer), ps, pbias, eps, address(y), pool);
  };
  return l;
}

// MatMul of two run-time tensors (attention's Q.K^T and weights.V) or with a batched constant: one GEMM
// per batch item, batch dims broadcast as numpy does. B is packed on every call (it changes per run).
std::optional<LoweredOp> lower_batched_matmul(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                              BufferAddress address) {
  if (op.inputs.size() != 2) return std::nullopt;
  Operand a = operand(g, op, 0, in), b = operand(g, op, 1, in);
  const size_t ra = a.shape.size(), rb = b.shape.size();
  if (ra < 2 || rb < 2) return std::nullopt;  // a vector operand: the reference's promotion rules
  const std::string where = "node '" + op.name + "'";
  const int64_t m = a.shape[ra - 2], k = a.shape[ra - 1], n = b.shape[rb - 1];
  if (b.shape[rb - 2] != k)
    throw Error(where, "inner dims differ: " + std::to_string(k) + " and " + std::to_string(b.shape[rb - 2]));
  if (m < 1 || n < 1 || k < 1) return std::nullopt;
  const Shape ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch;
  try {
    batch = kernels::broadcast_shape(ab, bb);
  } catch (const Error& e) {
    throw Error(where, e.detail());
  }
  Shape os = batch;
  os.push_back(m);
  os.push_back(n);
  check_shape(g, op, op.outputs[0], os);
  // Offset of each batch item's matrix in A and B (a broadcast dim stays put).
  const int64_t items = graph::numel(batch);
  auto offsets = [&](const Shape& own, int64_t matrix) {
    std::vector<int64_t> off(static_cast<size_t>(items), 0);
    const size_t lead = batch.size() - own.size();
    for (int64_t i = 0; i < items; ++i) {
      int64_t rem = i, o = 0, stride = matrix;
      for (size_t d = batch.size(); d-- > 0;) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        if (d < lead) continue;
        const int64_t dim = own[d - lead];
        if (dim != 1) o += idx * stride;
        stride *= dim;
      }
      off[static_cast<size_t>(i)] = o;
    }
    return off;
  };
  auto aoff = std::make_shared<std::vector<int64_t>>(offsets(ab, m * k));
  auto boff = std::make_shared<std::vector<int64_t>>(offsets(bb, k * n));
  LoweredOp l;
  l.kernel = std::string("matmul_gemm_") + kernels::gemm_ukernel(kernels::active_isa()).name;
  l.fn = [=](kernels::ThreadPool& pool) {
    const float* pa = a.constant ? a.constant : address(a.buffer);
    const float* pb = b.constant ? b.constant : address(b.buffer);
    float* py = address(y);
    for (int64_t i = 0; i < items; ++i)
      kernels::gemm(m, n, k, pa + (*aoff)[i], k, false, pb + (*boff)[i], n, false, py + i * m * n, n, nullptr,
                    kernels::Epilogue{}, pool);
  };
  return l;
}

// Gather of one constant index (a class token, the last time step): a slice of size one.
std::optional<LoweredOp> lower_gather(const Graph& g, const Op& op, const std::vector<int>& in, int y,
                                      BufferAddress address) {
  auto idx = const_ints(g, op, 1);
  if (!idx || idx->size() != 1) return std::nullopt;
  Operand x = operand(g, op, 0, in);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::string where = "node '" + op.name + "'";
  const int64_t axis = norm_axis(op.attr_int("axis", 0), rank, where);
  int64_t i = (*idx)[0];
  if (i < -x.shape[axis] || i >= x.shape[axis])
    throw Error(where, "index " + std::to_string(i) + " is out of range for dim " + std::to_string(x.shape[axis]));
  if (i < 0) i += x.shape[axis];
  std::vector<int64_t> starts(rank, 0), steps(rank, 1);
  starts[axis] = i;
  Shape os = x.shape;
  os[axis] = 1;
  check_shape(g, op, op.outputs[0], os);
  return copy_op("gather_slice_copy", x, kernels::make_slice(x.shape, starts, steps, os), y, address);
}

std::optional<kernels::UnaryOp> unary_kind(const Op& op) {
  const std::string& t = op.type;
  if (t == "Erf") return kernels::UnaryOp::kErf;
  if (t == "Tanh") return kernels::UnaryOp::kTanh;
  if (t == "LeakyRelu") return kernels::UnaryOp::kLeakyRelu;
  if (t == "Exp") return kernels::UnaryOp::kExp;
  if (t == "Sqrt") return kernels::UnaryOp::kSqrt;
  if (t == "Neg") return kernels::UnaryOp::kNeg;
  if (t == "Abs") return kernels::UnaryOp::kAbs;
  if (t == "Gelu" && op.attr_string("approximate", "none") == "none") return kernels::UnaryOp::kGelu;
  if (t == "Gelu" && op.attr_string("approximate", "none") == "tanh") return kernels::UnaryOp::kGeluTanh;
  return std::nullopt;
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

namespace {

// The run-time side of a lowering: what its closure may keep (the node's vectors may not outlive it).
struct Arena {
  BufferAddress address;
  int y;  // the first output's buffer

  const float* in(const Operand& o) const { return o.constant ? o.constant : address(o.buffer); }
  float* out() const { return address(y); }
};

// What every lowering reads: the node, its buffers and the arena.
struct LowerCtx {
  const Graph& g;
  const Op& op;
  const std::vector<int>& in;
  const std::vector<int>& out;
  Arena arena;
  std::string where;

  Operand x(size_t i = 0) const { return operand(g, op, i, in); }
};

using LowerFn = std::optional<LoweredOp> (*)(const LowerCtx&);

LoweredOp kernel_op(std::string name, std::function<void(kernels::ThreadPool&)> fn) {
  LoweredOp l;
  l.kernel = std::move(name);
  l.fn = std::move(fn);
  return l;
}

std::optional<LoweredOp> lower_binary(const LowerCtx& c) {
  static const std::map<std::string, std::pair<kernels::BinaryOp, const char*>> kinds = {
      {"Add", {kernels::BinaryOp::kAdd, "add_broadcast"}}, {"Mul", {kernels::BinaryOp::kMul, "mul_broadcast"}},
      {"Sub", {kernels::BinaryOp::kSub, "sub_broadcast"}}, {"Div", {kernels::BinaryOp::kDiv, "div_broadcast"}},
      {"Max", {kernels::BinaryOp::kMax, "max_broadcast"}}, {"Min", {kernels::BinaryOp::kMin, "min_broadcast"}},
      {"Mod", {kernels::BinaryOp::kFmod, "fmod_broadcast"}}};
  // Max and Min are variadic in ONNX; two inputs is the exported case. Float Mod must be fmod = 1.
  if (c.op.inputs.size() != 2 || (c.op.type == "Mod" && c.op.attr_int("fmod", 0) != 1)) return std::nullopt;
  const kernels::BinaryOp kind = kinds.at(c.op.type).first;
  const char* name = kinds.at(c.op.type).second;
  Operand a = c.x(0), b = c.x(1);
  kernels::Epilogue ep = epilogue_of(c.op);
  return kernel_op(name, [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::binary_op(kind, a.shape, ar.in(a), b.shape, ar.in(b), ar.out(), pool, ep);
  });
}

std::optional<LoweredOp> lower_activation(const LowerCtx& c) {
  bool is_act = false;
  kernels::Epilogue act = standalone_activation(c.g, c.op, &is_act);
  if (!is_act) return std::nullopt;
  Operand x = c.x();
  int64_t n = graph::numel(x.shape);
  return kernel_op(std::string("act_") + kernels::act_name(act.act), [=, ar = c.arena](kernels::ThreadPool& pool) {
    const float* px = ar.in(x);
    float* py = ar.out();
    if (px != py) std::memcpy(py, px, static_cast<size_t>(n) * 4);
    kernels::activation_inplace(act, py, n, pool);
  });
}

std::optional<LoweredOp> lower_concat(const LowerCtx& c) {
  std::vector<Operand> xs;
  for (size_t i = 0; i < c.op.inputs.size(); ++i) xs.push_back(c.x(i));
  int64_t axis = c.op.attr_int("axis", 1);
  return kernel_op("concat", [=, ar = c.arena](kernels::ThreadPool& pool) {
    std::vector<const float*> ptrs;
    std::vector<std::vector<int64_t>> shapes;
    for (const auto& x : xs) {
      ptrs.push_back(ar.in(x));
      shapes.push_back(x.shape);
    }
    kernels::concat(ptrs, shapes, axis, ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_pool(const LowerCtx& c) {
  auto ps = pool2d_shape_of(c.g, c.op);
  if (!ps) return std::nullopt;
  Operand x = c.x();
  const kernels::Pool2dShape s = *ps;
  bool is_max = c.op.type == "MaxPool";
  return kernel_op(is_max ? "max_pool2d" : "avg_pool2d", [=, ar = c.arena](kernels::ThreadPool& pool) {
    if (is_max) kernels::max_pool2d(s, ar.in(x), ar.out(), pool);
    else kernels::avg_pool2d(s, ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_global_avg_pool(const LowerCtx& c) {
  if (c.g.shape(c.op.inputs[0]).size() < 3) return std::nullopt;
  Operand x = c.x();
  int64_t hw = graph::numel(x.shape) / (x.shape[0] * x.shape[1]);
  return kernel_op("global_avg_pool", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::global_avg_pool(x.shape[0], x.shape[1], hw, ar.in(x), ar.out(), pool);
  });
}

// The global-pool case of the reduction kernel: each (n, c) plane is one contiguous run.
std::optional<LoweredOp> lower_global_max_pool(const LowerCtx& c) {
  if (c.g.shape(c.op.inputs[0]).size() < 3) return std::nullopt;
  Operand x = c.x();
  const int64_t planes = x.shape[0] * x.shape[1];
  const int64_t hw = planes > 0 ? graph::numel(x.shape) / planes : 0;
  if (planes <= 0 || hw <= 0) return std::nullopt;
  return kernel_op("global_max_pool", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::reduce(kernels::ReduceOp::kMax, planes, hw, 1, ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_resize(const LowerCtx& c) {
  if (!integer_nearest(c.g, c.op, c.g.shape(c.op.inputs[0]), c.g.shape(c.op.outputs[0])))
    return lower_resize_linear(c.g, c.op, c.in, c.arena.y, c.arena.address);
  Operand x = c.x();
  Shape ys = c.g.shape(c.op.outputs[0]);
  return kernel_op("resize_nearest", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::resize_nearest(x.shape[0], x.shape[1], x.shape[2], x.shape[3], ys[2], ys[3], ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_view(const LowerCtx& c) {
  Operand x = c.x();
  int64_t n = graph::numel(x.shape);
  if (n != graph::numel(c.g.shape(c.op.outputs[0]))) throw Error(c.where, "changes the element count");
  // A copy, not an alias: the arena plan treats every tensor as its own buffer, which keeps the
  // lifetime analysis simple; these copies are visible (and small) in the per-op table.
  return kernel_op("copy", [=, ar = c.arena](kernels::ThreadPool&) {
    std::memcpy(ar.out(), ar.in(x), static_cast<size_t>(n) * 4);
  });
}

// Pow by a constant scalar (x^2 in exported layer norms) is a unary op on x.
std::optional<LoweredOp> lower_pow(const LowerCtx& c) {
  const graph::Tensor* exponent = c.op.inputs.size() == 2 ? const_floats(c.g, c.op, 1) : nullptr;
  if (!exponent || exponent->numel() != 1 ||
      graph::numel(c.g.shape(c.op.outputs[0])) != graph::numel(c.g.shape(c.op.inputs[0])))
    return std::nullopt;
  Operand x = c.x();
  const int64_t n = graph::numel(x.shape);
  const float e = exponent->f32[0];
  const kernels::UnaryOp kind = e == 2.0f ? kernels::UnaryOp::kSquare : e == 0.5f ? kernels::UnaryOp::kSqrt
                                                                                    : kernels::UnaryOp::kPow;
  const char* name = kind == kernels::UnaryOp::kSquare ? "unary_square"
                     : kind == kernels::UnaryOp::kSqrt ? "unary_sqrt"
                                                       : "unary_pow";
  return kernel_op(name, [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::unary_op(kind, ar.in(x), ar.out(), n, pool, e);
  });
}

std::optional<LoweredOp> lower_unary(const LowerCtx& c) {
  auto u = unary_kind(c.op);
  if (!u) return std::nullopt;
  Operand x = c.x();
  const int64_t n = graph::numel(x.shape);
  const float alpha = c.op.attr_float("alpha", 0.01f);
  const kernels::UnaryOp kind = *u;
  std::string name = kind == kernels::UnaryOp::kGeluTanh ? "unary_gelu_tanh" : "unary_" + c.op.type;
  for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return kernel_op(name, [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::unary_op(kind, ar.in(x), ar.out(), n, pool, alpha);
  });
}

std::optional<LoweredOp> lower_transpose(const LowerCtx& c) {
  Operand x = c.x();
  const kernels::StridedCopy t = kernels::make_transpose(x.shape, c.op.attr_ints("perm"));
  return copy_op("transpose_copy", x, t, c.arena.y, c.arena.address);
}

// Where with a constant condition (the exported masks: attention windows, padding): the bool mask is
// packed to bytes once here. A condition computed at run time stays on the reference path.
std::optional<LoweredOp> lower_where(const LowerCtx& c) {
  const graph::Tensor* cond = c.op.inputs.size() == 3 ? c.g.constant(c.op.inputs[0]) : nullptr;
  if (!cond || cond->dtype == graph::DType::kFloat32) return std::nullopt;
  auto mask = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(cond->numel()));
  for (size_t i = 0; i < mask->size(); ++i) (*mask)[i] = cond->i64[i] != 0;
  const Shape cs = cond->shape;
  Operand a = c.x(1), b = c.x(2);
  return kernel_op("where_select", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::where_select(cs, mask->data(), a.shape, ar.in(a), b.shape, ar.in(b), ar.out(), pool);
  });
}

// Expand is a strided copy whose stretched dims have input stride 0.
std::optional<LoweredOp> lower_expand(const LowerCtx& c) {
  Operand x = c.x();
  const Shape ys = c.g.shape(c.op.outputs[0]);
  if (ys.size() < x.shape.size()) return std::nullopt;
  const size_t off = ys.size() - x.shape.size();
  std::vector<int64_t> strides(ys.size(), 0);
  int64_t step = 1;
  for (size_t d = x.shape.size(); d-- > 0;) {
    if (x.shape[d] != 1 && x.shape[d] != ys[d + off]) return std::nullopt;
    strides[d + off] = x.shape[d] == 1 ? 0 : step;
    step *= x.shape[d];
  }
  return copy_op("expand_copy", x, kernels::make_strided_copy(ys, strides, 0), c.arena.y, c.arena.address);
}

std::optional<LoweredOp> lower_softmax(const LowerCtx& c) {
  const Graph& g = c.g;
  Operand x = c.x();
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", g.opset >= 13 ? -1 : 1), rank, c.where);
  const int64_t outer = graph::numel(Shape(x.shape.begin(), x.shape.begin() + axis));
  // Before opset 13 the input is coerced to 2-D [outer, rest] at the axis.
  const int64_t mid = g.opset >= 13 ? x.shape[axis] : graph::numel(Shape(x.shape.begin() + axis, x.shape.end()));
  const int64_t inner = g.opset >= 13 ? graph::numel(Shape(x.shape.begin() + axis + 1, x.shape.end())) : 1;
  if (outer <= 0 || mid <= 0 || inner <= 0) return std::nullopt;
  return kernel_op(inner == 1 ? "softmax_last_axis" : "softmax_axis", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::softmax(outer, mid, inner, ar.in(x), ar.out(), pool);
  });
}

// The helpers above that predate LowerCtx, adapted.
template <std::optional<LoweredOp> (*F)(const Graph&, const Op&, const std::vector<int>&, int, BufferAddress)>
std::optional<LoweredOp> on_y(const LowerCtx& c) {
  return F(c.g, c.op, c.in, c.arena.y, c.arena.address);
}

std::optional<LoweredOp> lower_split_op(const LowerCtx& c) {
  return lower_split(c.g, c.op, c.in, c.out, c.arena.address);
}

// Keyed by the op registry's names: an op here has a native kernel for (at least) its common forms;
// the registry marks every other op reference-only with its reason, and a test checks both agree.
const std::map<std::string, LowerFn>& lowering_table() {
  static const std::map<std::string, LowerFn> table = [] {
    std::map<std::string, LowerFn> m = {
        {"Concat", lower_concat},
        {"MaxPool", lower_pool},
        {"AveragePool", lower_pool},
        {"GlobalAveragePool", lower_global_avg_pool},
        {"GlobalMaxPool", lower_global_max_pool},
        {"Resize", lower_resize},
        {"Upsample", lower_resize},
        {"Pow", lower_pow},
        {"Transpose", lower_transpose},
        {"Softmax", lower_softmax},
        {"Expand", lower_expand},
        {"Where", lower_where},
        {"BatchNormalization", on_y<lower_batchnorm>},
        {"Slice", on_y<lower_slice>},
        {"Split", lower_split_op},
        {"Pad", on_y<lower_pad>},
        {"LayerNormalization", on_y<lower_layer_norm>},
        {"MatMul", on_y<lower_batched_matmul>},
        {"Gather", on_y<lower_gather>},
    };
    for (const char* t : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Mod"}) m[t] = lower_binary;
    for (const char* t : {"Relu", "Sigmoid", "HardSwish", "HardSigmoid", "Clip"}) m[t] = lower_activation;
    for (const char* t : {"Erf", "Tanh", "LeakyRelu", "Exp", "Sqrt", "Neg", "Abs", "Gelu"}) m[t] = lower_unary;
    for (const char* t : {"ReduceMean", "ReduceSum", "ReduceMax"}) m[t] = on_y<lower_reduce>;
    for (const char* t : {"Reshape", "Flatten", "Identity", "Dropout", "Squeeze", "Unsqueeze"}) m[t] = lower_view;
    return m;
  }();
  return table;
}

}  // namespace

std::vector<std::string> native_op_types() {
  // Conv and Gemm are lowered by the executor itself (conv_lowering, the GEMM path).
  std::vector<std::string> v = {"Conv", "Gemm"};
  for (const auto& [type, fn] : lowering_table()) v.push_back(type);
  std::sort(v.begin(), v.end());
  return v;
}

LoweredOp lower_memory_op(const Graph& g, const Op& op, const std::vector<int>& in, const std::vector<int>& out,
                          BufferAddress address) {
  for (const auto& o : op.outputs)
    if (!o.empty() && g.tensor_info(o) && g.tensor_info(o)->dtype != graph::DType::kFloat32)
      return reference_fallback(g, op, in, out, address);
  const auto& table = lowering_table();
  auto it = op.unknown ? table.end() : table.find(op.type);
  if (it != table.end()) {
    const LowerCtx c{g, op, in, out, Arena{address, out.empty() ? -1 : out[0]}, "node '" + op.name + "'"};
    if (auto l = it->second(c)) return std::move(*l);
  }
  return reference_fallback(g, op, in, out, address);
}

}  // namespace hilsim::runtime
