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


// The output shape the lowering computed must be the one shape inference gave the arena buffer.
void check_shape(const Graph& g, const Op& op, const std::string& out, const Shape& got) {
  if (graph::numel(got) != graph::numel(g.shape(out)))
    throw Error("node '" + op.name + "'", "computed output '" + out + "' of a size different from shape inference");
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
bool integer_nearest(const Op& op, const Shape& x, const Shape& y) {
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1] || x[2] <= 0 || x[3] <= 0) return false;
  if (y[2] % x[2] != 0 || y[3] % x[3] != 0) return false;
  if (op.attr_string("mode", "nearest") != "nearest") return false;
  if (op.type == "Upsample") return true;
  std::string ct = op.attr_string("coordinate_transformation_mode", "half_pixel");
  std::string nm = op.attr_string("nearest_mode", "round_prefer_floor");
  if (ct == "asymmetric") return nm == "floor";
  if (ct == "half_pixel" || ct == "pytorch_half_pixel") return nm == "round_prefer_floor" || nm == "round_prefer_ceil";
  return false;
}

std::optional<kernels::StridedCopy> slice_copy(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
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
  Shape os = xs;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(axes[i], rank, where), dim = xs[a], step = steps[i];
    if (step == 0) throw Error(where, "step 0");
    const graph::SliceRange r = graph::slice_range(dim, starts[i], ends[i], step);
    os[a] = r.count;
    st[a] = r.count > 0 ? r.start : 0;
    sp[a] = step;
  }
  check_shape(g, op, op.outputs[0], os);
  return kernels::make_slice(xs, st, sp, os);
}

// Split as one strided copy per output; the sizes are the ones shape inference gave the outputs.
CopyParams split_copies(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
  const int64_t axis = norm_axis(op.attr_int("axis", 0), rank, "node '" + op.name + "'");
  CopyParams p;
  p.kernel = "split_copy";
  int64_t off = 0;
  for (size_t k = 0; k < op.outputs.size(); ++k) {
    if (op.outputs[k].empty()) continue;
    const Shape& os = g.shape(op.outputs[k]);
    std::vector<int64_t> st(rank, 0), sp(rank, 1);
    st[axis] = os[axis] > 0 ? off : 0;
    p.copies.push_back(kernels::make_slice(xs, st, sp, os));
    p.outputs.push_back(k);
    off += os[axis];
  }
  if (off != xs[axis]) throw Error("node '" + op.name + "'", "outputs do not cover the split axis");
  return p;
}

// Expand is a strided copy whose stretched dims have input stride 0.
std::optional<kernels::StridedCopy> expand_copy(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const Shape& ys = g.shape(op.outputs[0]);
  if (ys.size() < xs.size()) return std::nullopt;
  const size_t off = ys.size() - xs.size();
  std::vector<int64_t> strides(ys.size(), 0);
  int64_t step = 1;
  for (size_t d = xs.size(); d-- > 0;) {
    if (xs[d] != 1 && xs[d] != ys[d + off]) return std::nullopt;
    strides[d + off] = xs[d] == 1 ? 0 : step;
    step *= xs[d];
  }
  return kernels::make_strided_copy(ys, strides, 0);
}

// Gather of one constant index (a class token, the last time step): a slice of size one.
std::optional<kernels::StridedCopy> gather_copy(const Graph& g, const Op& op) {
  auto idx = const_ints(g, op, 1);
  if (!idx || idx->size() != 1) return std::nullopt;
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
  const std::string where = "node '" + op.name + "'";
  const int64_t axis = norm_axis(op.attr_int("axis", 0), rank, where);
  int64_t i = (*idx)[0];
  if (i < -xs[axis] || i >= xs[axis])
    throw Error(where, "index " + std::to_string(i) + " is out of range for dim " + std::to_string(xs[axis]));
  if (i < 0) i += xs[axis];
  std::vector<int64_t> starts(rank, 0), steps(rank, 1);
  starts[axis] = i;
  Shape os = xs;
  os[axis] = 1;
  check_shape(g, op, op.outputs[0], os);
  return kernels::make_slice(xs, starts, steps, os);
}

}  // namespace

std::optional<CopyParams> copy_params(const Graph& g, const Op& op) {
  if (op.inputs.empty() || op.outputs.empty()) return std::nullopt;
  if (op.type == "Split") return split_copies(g, op);
  std::optional<kernels::StridedCopy> c;
  std::string kernel;
  if (op.type == "Transpose") {
    c = kernels::make_transpose(g.shape(op.inputs[0]), op.attr_ints("perm", {}));
    kernel = "transpose_copy";
  } else if (op.type == "Slice") {
    c = slice_copy(g, op), kernel = "slice_copy";
  } else if (op.type == "Expand") {
    c = expand_copy(g, op), kernel = "expand_copy";
  } else if (op.type == "Gather") {
    c = gather_copy(g, op), kernel = "gather_slice_copy";
  }
  if (!c) return std::nullopt;
  CopyParams p;
  p.kernel = kernel;
  p.copies.push_back(std::move(*c));
  p.outputs.push_back(0);
  return p;
}

std::optional<BinaryParams> binary_params(const Graph& g, const Op& op) {
  static const std::map<std::string, std::pair<kernels::BinaryOp, const char*>> kinds = {
      {"Add", {kernels::BinaryOp::kAdd, "add_broadcast"}}, {"Mul", {kernels::BinaryOp::kMul, "mul_broadcast"}},
      {"Sub", {kernels::BinaryOp::kSub, "sub_broadcast"}}, {"Div", {kernels::BinaryOp::kDiv, "div_broadcast"}},
      {"Max", {kernels::BinaryOp::kMax, "max_broadcast"}}, {"Min", {kernels::BinaryOp::kMin, "min_broadcast"}},
      {"Mod", {kernels::BinaryOp::kFmod, "fmod_broadcast"}}};
  auto it = kinds.find(op.type);
  // Max and Min are variadic in ONNX; two inputs is the exported case. Float Mod must be fmod = 1.
  if (it == kinds.end() || op.inputs.size() != 2 || (op.type == "Mod" && op.attr_int("fmod", 0) != 1))
    return std::nullopt;
  BinaryParams p;
  p.kind = it->second.first;
  p.kernel = it->second.second;
  p.a = g.shape(op.inputs[0]);
  p.b = g.shape(op.inputs[1]);
  p.ep = epilogue_of(op);
  return p;
}

std::optional<kernels::Epilogue> activation_params(const Graph& g, const Op& op) {
  bool ok = false;
  kernels::Epilogue e = standalone_activation(g, op, &ok);
  if (!ok) return std::nullopt;
  return e;
}

std::optional<UnaryParams> unary_params(const Graph& g, const Op& op) {
  if (op.inputs.empty() || op.outputs.empty()) return std::nullopt;
  UnaryParams p;
  p.n = graph::numel(g.shape(op.inputs[0]));
  if (op.type == "Pow") {
    // Pow by a constant scalar (x^2 in exported layer norms) is a unary op on x.
    const graph::Tensor* exponent = op.inputs.size() == 2 ? const_floats(g, op, 1) : nullptr;
    if (!exponent || exponent->numel() != 1 || graph::numel(g.shape(op.outputs[0])) != p.n) return std::nullopt;
    p.alpha = exponent->f32[0];
    p.kind = p.alpha == 2.0f ? kernels::UnaryOp::kSquare : p.alpha == 0.5f ? kernels::UnaryOp::kSqrt : kernels::UnaryOp::kPow;
    p.kernel = p.kind == kernels::UnaryOp::kSquare ? "unary_square" : p.kind == kernels::UnaryOp::kSqrt ? "unary_sqrt" : "unary_pow";
    return p;
  }
  auto u = unary_kind(op);
  if (!u) return std::nullopt;
  p.kind = *u;
  p.alpha = op.attr_float("alpha", 0.01f);
  p.kernel = p.kind == kernels::UnaryOp::kGeluTanh ? "unary_gelu_tanh" : "unary_" + op.type;
  for (auto& ch : p.kernel) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return p;
}

std::optional<SoftmaxParams> softmax_params(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
  const int64_t axis = norm_axis(op.attr_int("axis", g.opset >= 13 ? -1 : 1), rank, "node '" + op.name + "'");
  SoftmaxParams p;
  p.outer = graph::numel(Shape(xs.begin(), xs.begin() + axis));
  // Before opset 13 the input is coerced to 2-D [outer, rest] at the axis.
  p.mid = g.opset >= 13 ? xs[axis] : graph::numel(Shape(xs.begin() + axis, xs.end()));
  p.inner = g.opset >= 13 ? graph::numel(Shape(xs.begin() + axis + 1, xs.end())) : 1;
  if (p.outer <= 0 || p.mid <= 0 || p.inner <= 0) return std::nullopt;
  return p;
}

std::optional<BatchNormParams> batchnorm_params(const Graph& g, const Op& op) {
  if (op.inputs.size() < 5 || op.attr_int("training_mode", 0) != 0) return std::nullopt;
  for (size_t i = 1; i < op.outputs.size(); ++i)
    if (!op.outputs[i].empty()) return std::nullopt;
  const graph::Tensor *gamma = const_floats(g, op, 1), *beta = const_floats(g, op, 2), *mean = const_floats(g, op, 3),
                      *var = const_floats(g, op, 4);
  if (!gamma || !beta || !mean || !var) return std::nullopt;
  const Shape& xs = g.shape(op.inputs[0]);
  if (xs.size() < 2) throw Error("node '" + op.name + "'", "BatchNormalization needs rank >= 2");
  BatchNormParams p;
  p.n = xs[0], p.c = xs[1], p.inner = graph::numel(xs) / std::max<int64_t>(1, p.n * p.c);
  if (gamma->numel() != p.c || beta->numel() != p.c || mean->numel() != p.c || var->numel() != p.c)
    throw Error("node '" + op.name + "'", "statistics do not have one value per channel (" + std::to_string(p.c) + ")");
  const double eps = op.attr_float("epsilon", 1e-5f);
  p.scale.resize(static_cast<size_t>(p.c));
  p.shift.resize(static_cast<size_t>(p.c));
  for (int64_t i = 0; i < p.c; ++i) {
    const double s = gamma->f32[i] / std::sqrt(static_cast<double>(var->f32[i]) + eps);
    p.scale[i] = static_cast<float>(s);
    p.shift[i] = static_cast<float>(beta->f32[i] - mean->f32[i] * s);
  }
  p.ep = epilogue_of(op);
  return p;
}

std::optional<ReduceParams> reduce_params(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
  const std::string where = "node '" + op.name + "'";
  auto given = attr_or_input_ints(g, op, "axes", 1);
  if (!given) return std::nullopt;
  const std::vector<int64_t> axes = *given;
  ReduceParams p;
  if (axes.empty() && op.attr_int("noop_with_empty_axes", 0) != 0) {
    check_shape(g, op, op.outputs[0], xs);
    p.form = ReduceParams::Form::kCopy;
    p.kernel = "copy";
    p.n = graph::numel(xs);
    return p;
  }
  std::set<int64_t> red;
  for (int64_t a : axes) red.insert(norm_axis(a, rank, where));
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) red.insert(d);
  int64_t kept = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (!red.count(d)) kept *= xs[d];
  check_shape(g, op, op.outputs[0], {kept});
  p.kind = op.type == "ReduceMean" ? kernels::ReduceOp::kMean
           : op.type == "ReduceSum" ? kernels::ReduceOp::kSum : kernels::ReduceOp::kMax;
  // Runs of kept / reduced dims (size-1 dims dropped): [K R K] and its sub-patterns are one reduce call.
  std::vector<std::pair<bool, int64_t>> runs;
  for (int64_t d = 0; d < rank; ++d) {
    if (xs[d] == 1) continue;
    const bool r = red.count(d) != 0;
    if (!runs.empty() && runs.back().first == r) runs.back().second *= xs[d];
    else runs.emplace_back(r, xs[d]);
  }
  if (graph::numel(xs) == 0) return std::nullopt;
  size_t i = 0;
  if (i < runs.size() && !runs[i].first) p.outer = runs[i++].second;
  if (i < runs.size() && runs[i].first) p.mid = runs[i++].second;
  if (i < runs.size() && !runs[i].first) p.inner = runs[i++].second;
  if (i == runs.size()) {
    if (p.kind == kernels::ReduceOp::kMean && p.inner == 1) {
      // Global pooling as exported (ReduceMean over H, W): the pool kernel itself.
      p.form = ReduceParams::Form::kGlobalAvgPool;
      p.kernel = "global_avg_pool";
    } else {
      p.form = ReduceParams::Form::kReduce;
      p.kernel = std::string("reduce_") +
                 (p.kind == kernels::ReduceOp::kMean ? "mean" : p.kind == kernels::ReduceOp::kSum ? "sum" : "max");
    }
    return p;
  }
  // Any other set of axes: offsets of one output's reduced elements, and each output's first element.
  std::vector<int64_t> xst(rank, 1);
  for (int64_t d = rank - 1; d > 0; --d) xst[d - 1] = xst[d] * xs[d];
  p.offsets = {0}, p.bases = {0};
  for (int64_t d = 0; d < rank; ++d) {
    std::vector<int64_t>& v = red.count(d) ? p.offsets : p.bases;
    std::vector<int64_t> next;
    next.reserve(v.size() * static_cast<size_t>(xs[d]));
    for (int64_t o : v)
      for (int64_t k = 0; k < xs[d]; ++k) next.push_back(o + k * xst[d]);
    v = std::move(next);
  }
  p.form = ReduceParams::Form::kGather;
  p.kernel = "reduce_gather";
  return p;
}

std::optional<GlobalPoolParams> global_pool_params(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  if (xs.size() < 3) return std::nullopt;
  GlobalPoolParams p;
  p.max = op.type == "GlobalMaxPool";
  p.n = xs[0], p.c = xs[1];
  const int64_t planes = p.n * p.c;
  p.hw = planes > 0 ? graph::numel(xs) / planes : 0;
  if (p.max && (planes <= 0 || p.hw <= 0)) return std::nullopt;
  return p;
}

std::optional<kernels::PadShape> pad_params(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
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
  s.in_shape = xs;
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
  return s;
}

std::optional<LayerNormParams> layer_norm_params(const Graph& g, const Op& op) {
  for (size_t i = 1; i < op.outputs.size(); ++i)
    if (!op.outputs[i].empty()) return std::nullopt;  // Mean / InvStdDev outputs: the reference computes them
  const Shape& xs = g.shape(op.inputs.at(0));
  const int64_t rank = static_cast<int64_t>(xs.size());
  const int64_t axis = norm_axis(op.attr_int("axis", -1), rank, "node '" + op.name + "'");
  LayerNormParams p;
  p.width = graph::numel(Shape(xs.begin() + axis, xs.end()));
  p.rows = graph::numel(xs) / std::max<int64_t>(p.width, 1);
  p.scale = const_floats(g, op, 1);
  p.bias = op.input(2) ? const_floats(g, op, 2) : nullptr;
  if (!p.scale || p.scale->numel() != p.width || (op.input(2) && (!p.bias || p.bias->numel() != p.width)) || p.width == 0)
    return std::nullopt;  // broadcast scale / bias shapes: the reference handles them
  p.epsilon = op.attr_float("epsilon", 1e-5f);
  return p;
}

std::optional<BatchedMatMulParams> batched_matmul_params(const Graph& g, const Op& op) {
  if (op.inputs.size() != 2) return std::nullopt;
  const Shape& as = g.shape(op.inputs[0]);
  const Shape& bs = g.shape(op.inputs[1]);
  const size_t ra = as.size(), rb = bs.size();
  if (ra < 2 || rb < 2) return std::nullopt;  // a vector operand: the reference's promotion rules
  const std::string where = "node '" + op.name + "'";
  BatchedMatMulParams p;
  p.m = as[ra - 2], p.k = as[ra - 1], p.n = bs[rb - 1];
  if (bs[rb - 2] != p.k)
    throw Error(where, "inner dims differ: " + std::to_string(p.k) + " and " + std::to_string(bs[rb - 2]));
  if (p.m < 1 || p.n < 1 || p.k < 1) return std::nullopt;
  const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch;
  try {
    batch = kernels::broadcast_shape(ab, bb);
  } catch (const Error& e) {
    throw Error(where, e.detail());
  }
  Shape os = batch;
  os.push_back(p.m);
  os.push_back(p.n);
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
  p.a_offsets = offsets(ab, p.m * p.k);
  p.b_offsets = offsets(bb, p.k * p.n);
  return p;
}

std::optional<ResizeParams> resize_params(const Graph& g, const Op& op) {
  const Shape& xs = g.shape(op.inputs.at(0));
  const Shape& ys = g.shape(op.outputs.at(0));
  if (xs.size() != 4 || ys.size() != 4 || xs[0] != ys[0] || xs[1] != ys[1]) return std::nullopt;
  ResizeParams p;
  p.n = xs[0], p.c = xs[1], p.h = xs[2], p.w = xs[3], p.out_h = ys[2], p.out_w = ys[3];
  if (integer_nearest(op, xs, ys)) return p;
  // Linear on the two trailing dims of NCHW, with the op's own scales.
  std::string mode = op.attr_string("mode", "nearest");
  if (mode != "linear" && mode != "bilinear") return std::nullopt;
  const bool old = op.type == "Upsample" || g.opset < 11;
  std::vector<double> scales;
  if (old) {
    if (op.has_attr("scales")) {
      for (float v : op.attr_floats("scales")) scales.push_back(v);
    } else if (const graph::Tensor* t = const_floats(g, op, 1)) {
      for (float v : t->f32) scales.push_back(v);
    }
  } else if (op.input(3) && g.constant(*op.input(3)) && g.constant(*op.input(3))->numel() > 0) {
    for (size_t d = 0; d < 4; ++d) scales.push_back(static_cast<double>(ys[d]) / xs[d]);
  } else if (const graph::Tensor* t = const_floats(g, op, 2)) {
    for (float v : t->f32) scales.push_back(v);
  }
  if (scales.size() != 4) return std::nullopt;
  const std::string coord = old ? "asymmetric" : op.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" && coord != "asymmetric")
    return std::nullopt;
  p.linear = true;
  p.ty = kernels::linear_taps(xs[2], ys[2], scales[2], coord);
  p.tx = kernels::linear_taps(xs[3], ys[3], scales[3], coord);
  return p;
}

std::optional<WhereParams> where_params(const Graph& g, const Op& op) {
  const graph::Tensor* cond = op.inputs.size() == 3 ? g.constant(op.inputs[0]) : nullptr;
  if (!cond || cond->dtype == graph::DType::kFloat32) return std::nullopt;
  WhereParams p;
  p.mask.resize(static_cast<size_t>(cond->numel()));
  for (size_t i = 0; i < p.mask.size(); ++i) p.mask[i] = cond->i64[i] != 0;
  p.cond_shape = cond->shape;
  p.a = g.shape(op.inputs[1]);
  p.b = g.shape(op.inputs[2]);
  return p;
}

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

// Transpose, Slice, Split, Expand, Gather: strided copies into each output.
std::optional<LoweredOp> lower_copy(const LowerCtx& c) {
  auto p = copy_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  std::vector<std::pair<kernels::StridedCopy, int>> parts;
  for (size_t i = 0; i < p->copies.size(); ++i) parts.emplace_back(p->copies[i], c.out.at(p->outputs[i]));
  return kernel_op(p->kernel, [=, ar = c.arena](kernels::ThreadPool& pool) {
    const float* px = ar.in(x);
    for (const auto& [copy, b] : parts) kernels::strided_copy(copy, px, ar.address(b), pool);
  });
}

std::optional<LoweredOp> lower_binary(const LowerCtx& c) {
  auto p = binary_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand a = c.x(0), b = c.x(1);
  return kernel_op(p->kernel, [=, p = *p, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::binary_op(p.kind, p.a, ar.in(a), p.b, ar.in(b), ar.out(), pool, p.ep);
  });
}

std::optional<LoweredOp> lower_activation(const LowerCtx& c) {
  auto act = activation_params(c.g, c.op);
  if (!act) return std::nullopt;
  Operand x = c.x();
  int64_t n = graph::numel(x.shape);
  return kernel_op(std::string("act_") + kernels::act_name(act->act), [=, act = *act, ar = c.arena](kernels::ThreadPool& pool) {
    const float* px = ar.in(x);
    float* py = ar.out();
    if (px != py) std::memcpy(py, px, static_cast<size_t>(n) * 4);
    kernels::activation_inplace(act, py, n, pool);
  });
}

std::optional<LoweredOp> lower_unary(const LowerCtx& c) {
  auto p = unary_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  return kernel_op(p->kernel, [=, p = *p, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::unary_op(p.kind, ar.in(x), ar.out(), p.n, pool, p.alpha);
  });
}

std::optional<LoweredOp> lower_softmax(const LowerCtx& c) {
  auto p = softmax_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  return kernel_op(p->inner == 1 ? "softmax_last_axis" : "softmax_axis", [=, p = *p, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::softmax(p.outer, p.mid, p.inner, ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_batchnorm(const LowerCtx& c) {
  auto p = batchnorm_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  auto s = std::make_shared<const BatchNormParams>(std::move(*p));
  return kernel_op(s->ep.act == kernels::Act::kNone ? "batchnorm_affine"
                                                    : std::string("batchnorm_affine_") + kernels::act_name(s->ep.act),
                   [=, ar = c.arena](kernels::ThreadPool& pool) {
                     kernels::channel_affine(s->n, s->c, s->inner, ar.in(x), s->scale.data(), s->shift.data(), ar.out(),
                                             pool, s->ep);
                   });
}

std::optional<LoweredOp> lower_reduce(const LowerCtx& c) {
  auto p = reduce_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  auto s = std::make_shared<const ReduceParams>(std::move(*p));
  // A copy, not an alias: see lower_view.
  return kernel_op(s->kernel, [=, ar = c.arena](kernels::ThreadPool& pool) {
    switch (s->form) {
      case ReduceParams::Form::kCopy: std::memcpy(ar.out(), ar.in(x), static_cast<size_t>(s->n) * 4); break;
      case ReduceParams::Form::kGlobalAvgPool: kernels::global_avg_pool(1, s->outer, s->mid, ar.in(x), ar.out(), pool); break;
      case ReduceParams::Form::kReduce: kernels::reduce(s->kind, s->outer, s->mid, s->inner, ar.in(x), ar.out(), pool); break;
      case ReduceParams::Form::kGather: kernels::reduce_gather(s->kind, s->bases, s->offsets, ar.in(x), ar.out(), pool); break;
    }
  });
}

std::optional<LoweredOp> lower_global_pool(const LowerCtx& c) {
  auto p = global_pool_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  // GlobalMaxPool is the global-pool case of the reduction kernel: each (n, c) plane is one contiguous run.
  return kernel_op(p->max ? "global_max_pool" : "global_avg_pool", [=, p = *p, ar = c.arena](kernels::ThreadPool& pool) {
    if (p.max) kernels::reduce(kernels::ReduceOp::kMax, p.n * p.c, p.hw, 1, ar.in(x), ar.out(), pool);
    else kernels::global_avg_pool(p.n, p.c, p.hw, ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_pad(const LowerCtx& c) {
  auto p = pad_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  return kernel_op("pad_" + c.op.attr_string("mode", "constant"), [=, s = *p, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::pad(s, ar.in(x), ar.out(), pool);
  });
}

std::optional<LoweredOp> lower_layer_norm(const LowerCtx& c) {
  auto p = layer_norm_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  const float* ps = p->scale->f32.data();
  const float* pb = p->bias ? p->bias->f32.data() : nullptr;
  return kernel_op("layer_norm", [=, p = *p, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::layer_norm(p.rows, p.width, ar.in(x), ps, pb, p.epsilon, ar.out(), pool);
  });
}

// MatMul of two run-time tensors (attention's Q.K^T and weights.V) or with a batched constant: one GEMM
// per batch item. B is packed on every call (it changes per run).
std::optional<LoweredOp> lower_batched_matmul(const LowerCtx& c) {
  auto p = batched_matmul_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand a = c.x(0), b = c.x(1);
  auto s = std::make_shared<const BatchedMatMulParams>(std::move(*p));
  return kernel_op(std::string("matmul_gemm_") + kernels::gemm_ukernel(kernels::active_isa()).name,
                   [=, ar = c.arena](kernels::ThreadPool& pool) {
                     const float* pa = ar.in(a);
                     const float* pb = ar.in(b);
                     float* py = ar.out();
                     for (size_t i = 0; i < s->a_offsets.size(); ++i)
                       kernels::gemm(s->m, s->n, s->k, pa + s->a_offsets[i], s->k, false, pb + s->b_offsets[i], s->n,
                                     false, py + static_cast<int64_t>(i) * s->m * s->n, s->n, nullptr,
                                     kernels::Epilogue{}, pool);
                   });
}

std::optional<LoweredOp> lower_resize(const LowerCtx& c) {
  auto p = resize_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand x = c.x();
  auto s = std::make_shared<const ResizeParams>(std::move(*p));
  return kernel_op(s->linear ? "resize_bilinear" : "resize_nearest", [=, ar = c.arena](kernels::ThreadPool& pool) {
    if (s->linear)
      kernels::resize_linear(s->n * s->c, s->h, s->w, s->out_h, s->out_w, s->ty, s->tx, ar.in(x), ar.out(), pool);
    else
      kernels::resize_nearest(s->n, s->c, s->h, s->w, s->out_h, s->out_w, ar.in(x), ar.out(), pool);
  });
}

// Where with a constant condition (the exported masks: attention windows, padding): the bool mask is
// packed to bytes once. A condition computed at run time stays on the reference path.
std::optional<LoweredOp> lower_where(const LowerCtx& c) {
  auto p = where_params(c.g, c.op);
  if (!p) return std::nullopt;
  Operand a = c.x(1), b = c.x(2);
  auto s = std::make_shared<const WhereParams>(std::move(*p));
  return kernel_op("where_select", [=, ar = c.arena](kernels::ThreadPool& pool) {
    kernels::where_select(s->cond_shape, s->mask.data(), s->a, ar.in(a), s->b, ar.in(b), ar.out(), pool);
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


// Keyed by the op registry's names: an op here has a native kernel for (at least) its common forms;
// the registry marks every other op reference-only with its reason, and a test checks both agree.
const std::map<std::string, LowerFn>& lowering_table() {
  static const std::map<std::string, LowerFn> table = [] {
    std::map<std::string, LowerFn> m = {
        {"Concat", lower_concat},
        {"MaxPool", lower_pool},
        {"AveragePool", lower_pool},
        {"GlobalAveragePool", lower_global_pool},
        {"GlobalMaxPool", lower_global_pool},
        {"Resize", lower_resize},
        {"Upsample", lower_resize},
        {"Pow", lower_unary},
        {"Softmax", lower_softmax},
        {"Where", lower_where},
        {"BatchNormalization", lower_batchnorm},
        {"Pad", lower_pad},
        {"LayerNormalization", lower_layer_norm},
        {"MatMul", lower_batched_matmul},
    };
    for (const char* t : {"Transpose", "Slice", "Split", "Expand", "Gather"}) m[t] = lower_copy;
    for (const char* t : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Mod"}) m[t] = lower_binary;
    for (const char* t : {"Relu", "Sigmoid", "HardSwish", "HardSigmoid", "Clip"}) m[t] = lower_activation;
    for (const char* t : {"Erf", "Tanh", "LeakyRelu", "Exp", "Sqrt", "Neg", "Abs", "Gelu"}) m[t] = lower_unary;
    for (const char* t : {"ReduceMean", "ReduceSum", "ReduceMax"}) m[t] = lower_reduce;
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
