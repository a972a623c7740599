#include "hilsim/graph/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "hilsim/graph/op_registry.h"
#include "hilsim/graph/slice_range.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {

namespace {

std::string node(const Op& op) { return "node '" + op.name + "' (" + op.type + ")"; }

const TensorInfo& in_info(const Graph& g, const Op& op, size_t i) {
  auto name = op.input(i);
  if (!name) throw Error(node(op), "input " + std::to_string(i) + " is missing");
  const TensorInfo* t = g.tensor_info(*name);
  if (!t || !t->known) throw Error(node(op), "shape of input '" + *name + "' is unknown");
  return *t;
}

const Shape& in_shape(const Graph& g, const Op& op, size_t i) { return in_info(g, op, i).shape; }

bool eval_const(const Graph& g, const Op& op, std::vector<Tensor>& outs);

// The value of a tensor known before run time: a constant, or the result of a shape-arithmetic chain
// over constants and static shapes (what ONNX calls data propagation). Evaluated on a one-op graph.
std::optional<Tensor> static_value(const Graph& g, const std::string& name, int depth = 0) {
  if (const Tensor* t = g.constant(name)) return *t;
  auto p = g.producer(name);
  if (!p || depth > 24) return std::nullopt;
  const Op& op = g.op(*p);
  static const std::set<std::string> chain = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Concat", "Slice",
                                              "Add", "Sub", "Mul", "Div", "Constant", "ConstantOfShape", "Range",
                                              "Equal", "Where", "Expand", "Identity", "Reshape", "Max", "Min"};
  if (!chain.count(op.type) || op.unknown) return std::nullopt;
  Graph mini;
  mini.opset = g.opset;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const std::string& in = op.inputs[i];
    if (in.empty()) continue;
    if (op.type == "Shape") {
      const TensorInfo* ti = g.tensor_info(in);
      if (!ti || !ti->known) return std::nullopt;
      mini.set_tensor_info(*ti);
      continue;
    }
    auto v = static_value(g, in, depth + 1);
    if (!v || v->numel() > 4096) return std::nullopt;
    v->name = in;
    mini.set_constant(std::move(*v));
  }
  std::vector<Tensor> outs;
  try {
    if (!eval_const(mini, op, outs)) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;
  }
  for (Tensor& t : outs)
    if (t.name == name) return std::move(t);
  return std::nullopt;
}

// The static value of input i, if it has one.
std::optional<Tensor> input_value(const Graph& g, const Op& op, size_t i) {
  auto name = op.input(i);
  return name ? static_value(g, *name) : std::nullopt;
}

// Integer values of a constant input (int tensors, or floats rounded for scales-like inputs).
std::optional<std::vector<int64_t>> const_ints(const Graph& g, const Op& op, size_t i) {
  std::optional<Tensor> t = input_value(g, op, i);
  if (!t) return std::nullopt;
  if (t->dtype != DType::kFloat32) return t->i64;
  std::vector<int64_t> v;
  for (float f : t->f32) v.push_back(static_cast<int64_t>(f));
  return v;
}

std::optional<std::vector<float>> const_floats(const Graph& g, const Op& op, size_t i) {
  std::optional<Tensor> t = input_value(g, op, i);
  if (!t) return std::nullopt;
  if (t->dtype == DType::kFloat32) return t->f32;
  return std::vector<float>(t->i64.begin(), t->i64.end());
}

std::vector<int64_t> need_ints(const Graph& g, const Op& op, size_t i, const char* what) {
  auto v = const_ints(g, op, i);
  if (!v) throw Error(node(op), std::string(what) + " (input " + std::to_string(i) +
                                    ") must be a constant for hilsim to know the output shape");
  return *v;
}

int64_t norm_axis(int64_t axis, int64_t rank, const Op& op) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    throw Error(node(op), "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

TensorInfo out(const Op& op, size_t i, DType t, Shape s) {
  for (int64_t d : s)
    if (d < 0) throw Error(node(op), "computed a negative dimension " + shape_str(s));
  return TensorInfo{op.outputs.at(i), t, std::move(s), true};
}

// Spatial output size of conv/pool along one axis, honouring auto_pad and ceil_mode.
void spatial_out(const Op& op, const Shape& x, const std::vector<int64_t>& kernel, bool ceil_mode, Shape& o) {
  const size_t sp = kernel.size();
  auto strides = op.attr_ints("strides", std::vector<int64_t>(sp, 1));
  auto dil = op.attr_ints("dilations", std::vector<int64_t>(sp, 1));
  auto pads = op.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  std::string auto_pad = op.attr_string("auto_pad", "NOTSET");
  if (strides.size() != sp || dil.size() != sp || pads.size() != 2 * sp)
    throw Error(node(op), "strides/dilations/pads do not match the " + std::to_string(sp) + " spatial dims");
  constexpr int64_t kMaxAttr = int64_t{1} << 31;
  for (auto* v : {&strides, &dil, &pads})
    for (int64_t a : *v)
      if (a < 0 || a > kMaxAttr) throw Error(node(op), "stride/dilation/pad value " + std::to_string(a) + " out of range");
  for (int64_t k : kernel)
    if (k <= 0 || k > kMaxAttr) throw Error(node(op), "kernel size " + std::to_string(k) + " out of range");
  for (size_t i = 2; i < x.size(); ++i)
    if (x[i] > kMaxAttr) throw Error(node(op), "spatial size " + std::to_string(x[i]) + " out of range");
  for (size_t i = 0; i < sp; ++i) {
    if (strides[i] <= 0 || dil[i] <= 0) throw Error(node(op), "strides and dilations must be positive");
    const int64_t in = x[2 + i], k = dil[i] * (kernel[i] - 1) + 1;
    int64_t v;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      v = (in + strides[i] - 1) / strides[i];
    } else if (auto_pad == "VALID") {
      v = (in - k) / strides[i] + 1;
      if (in < k) v = 0;
    } else {
      const int64_t span = in + pads[i] + pads[i + sp] - k;
      if (span < 0) throw Error(node(op), "kernel larger than the padded input " + shape_str(x));
      v = ceil_mode ? (span + strides[i] - 1) / strides[i] + 1 : span / strides[i] + 1;
      // ONNX: with ceil_mode the last window must start inside the input or left padding.
      if (ceil_mode && (v - 1) * strides[i] >= in + pads[i]) --v;
    }
    o.push_back(v);
  }
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where) {
  const size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(where, "cannot broadcast " + shape_str(a) + " with " + shape_str(b));
    s[i] = da == 1 ? db : da;
  }
  return s;
}

namespace {

std::vector<TensorInfo> same_as_input(const Graph& g, const Op& op) {
  const TensorInfo& x = in_info(g, op, 0);
  return {out(op, 0, x.dtype, x.shape)};
}

std::vector<TensorInfo> shape_dropout(const Graph& g, const Op& op) {
  std::vector<TensorInfo> r = same_as_input(g, op);
  if (op.outputs.size() > 1 && !op.outputs[1].empty()) r.push_back(out(op, 1, DType::kBool, r[0].shape));
  return r;
}

std::vector<TensorInfo> shape_like_input(const Graph& g, const Op& op) {
  const std::string& t = op.type;
  const std::string where = node(op);
  if (t == "BatchNormalization") {
    const Shape& x = in_shape(g, op, 0);
    if (x.size() < 2) throw Error(where, "input must have a channel dim, got " + shape_str(x));
    for (size_t i = 1; i <= 4; ++i) {
      const Shape& p = in_shape(g, op, i);
      if (numel(p) != x[1])
        throw Error(where, "parameter " + std::to_string(i) + " has " + std::to_string(numel(p)) +
                               " values for " + std::to_string(x[1]) + " channels");
    }
  }
  return same_as_input(g, op);
}

std::vector<TensorInfo> shape_binary(const Graph& g, const Op& op) {
  const std::string& t = op.type;
  const std::string where = node(op);
  const TensorInfo& a = in_info(g, op, 0);
  const TensorInfo& b = in_info(g, op, 1);
  const bool cmp = t == "Equal" || t == "Less" || t == "Greater";
  Shape s = broadcast_shapes(a.shape, b.shape, where);
  for (size_t i = 2; i < op.inputs.size(); ++i) s = broadcast_shapes(s, in_shape(g, op, i), where);  // Max, Min
  return {out(op, 0, cmp ? DType::kBool : a.dtype, s)};
}

std::vector<TensorInfo> shape_where(const Graph& g, const Op& op) {
  const std::string where = node(op);
  Shape s = broadcast_shapes(in_shape(g, op, 0), in_shape(g, op, 1), where);
  s = broadcast_shapes(s, in_shape(g, op, 2), where);
  return {out(op, 0, in_info(g, op, 1).dtype, s)};
}

std::vector<TensorInfo> shape_conv(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const Shape& x = in_shape(g, op, 0);
  const Shape& w = in_shape(g, op, 1);
  if (x.size() < 3 || w.size() != x.size())
    throw Error(where, "input " + shape_str(x) + " and weight " + shape_str(w) + " ranks do not fit a conv");
  const int64_t groups = op.attr_int("group", 1);
  if (groups <= 0 || x[1] % groups != 0 || w[0] % groups != 0)
    throw Error(where, "group " + std::to_string(groups) + " does not divide channels " + std::to_string(x[1]) +
                           " / filters " + std::to_string(w[0]));
  if (w[1] * groups != x[1])
    throw Error(where, "weight " + shape_str(w) + " expects " + std::to_string(w[1] * groups) +
                           " input channels, the input has " + std::to_string(x[1]));
  if (auto b = op.input(2)) {
    if (numel(in_shape(g, op, 2)) != w[0]) throw Error(where, "bias size does not match " + std::to_string(w[0]) + " filters");
  }
  std::vector<int64_t> k(w.begin() + 2, w.end());
  auto ks = op.attr_ints("kernel_shape", k);
  if (ks != k) throw Error(where, "kernel_shape attribute disagrees with the weight shape " + shape_str(w));
  Shape o{x[0], w[0]};
  spatial_out(op, x, k, false, o);
  return {out(op, 0, DType::kFloat32, o)};
}

std::vector<TensorInfo> shape_pool(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const Shape& x = in_shape(g, op, 0);
  auto k = op.attr_ints("kernel_shape");
  if (k.size() + 2 != x.size()) throw Error(where, "kernel_shape does not match input " + shape_str(x));
  Shape o{x[0], x[1]};
  spatial_out(op, x, k, op.attr_int("ceil_mode", 0) != 0, o);
  std::vector<TensorInfo> r{out(op, 0, DType::kFloat32, o)};
  if (op.outputs.size() > 1 && !op.outputs[1].empty()) r.push_back(out(op, 1, DType::kInt64, o));
  return r;
}

std::vector<TensorInfo> shape_global_pool(const Graph& g, const Op& op) {
  Shape s = in_shape(g, op, 0);
  for (size_t i = 2; i < s.size(); ++i) s[i] = 1;
  return {out(op, 0, DType::kFloat32, s)};
}

std::vector<TensorInfo> shape_reduce(const Graph& g, const Op& op) {
  const Shape& x = in_shape(g, op, 0);
  std::vector<int64_t> axes = op.attr_ints("axes");
  if (!op.has_attr("axes") && op.input(1)) axes = need_ints(g, op, 1, "axes");
  const bool keep = op.attr_int("keepdims", 1) != 0;
  if (axes.empty() && op.attr_int("noop_with_empty_axes", 0) != 0) return {out(op, 0, DType::kFloat32, x)};
  std::set<int64_t> ax;
  for (int64_t a : axes) ax.insert(norm_axis(a, static_cast<int64_t>(x.size()), op));
  if (axes.empty())
    for (size_t i = 0; i < x.size(); ++i) ax.insert(static_cast<int64_t>(i));
  Shape s;
  for (size_t i = 0; i < x.size(); ++i) {
    if (ax.count(static_cast<int64_t>(i))) {
      if (keep) s.push_back(1);
    } else {
      s.push_back(x[i]);
    }
  }
  return {out(op, 0, DType::kFloat32, s)};
}

std::vector<TensorInfo> shape_layer_norm(const Graph& g, const Op& op) {
  const std::string where = node(op);
  // Y like X; the optional Mean and InvStdDev keep X's dims before `axis` and 1 from it on.
  const Shape& x = in_shape(g, op, 0);
  const int64_t axis = norm_axis(op.attr_int("axis", -1), static_cast<int64_t>(x.size()), op);
  const Shape width(x.begin() + axis, x.end());
  broadcast_shapes(width, in_shape(g, op, 1), where);
  if (op.input(2)) broadcast_shapes(width, in_shape(g, op, 2), where);
  std::vector<TensorInfo> r{out(op, 0, DType::kFloat32, x)};
  Shape stat = x;
  for (size_t i = static_cast<size_t>(axis); i < stat.size(); ++i) stat[i] = 1;
  for (size_t i = 1; i < op.outputs.size() && i < 3; ++i)
    if (!op.outputs[i].empty()) r.push_back(out(op, i, DType::kFloat32, stat));
  return r;
}

std::vector<TensorInfo> shape_gemm(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const Shape& a = in_shape(g, op, 0);
  const Shape& b = in_shape(g, op, 1);
  if (a.size() != 2 || b.size() != 2) throw Error(where, "Gemm needs 2-D inputs, got " + shape_str(a) + " and " + shape_str(b));
  const bool ta = op.attr_int("transA", 0), tb = op.attr_int("transB", 0);
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) throw Error(where, "inner dims differ: " + shape_str(a) + " x " + shape_str(b));
  if (op.input(2)) broadcast_shapes({m, n}, in_shape(g, op, 2), where);
  return {out(op, 0, DType::kFloat32, {m, n})};
}

std::vector<TensorInfo> shape_matmul(const Graph& g, const Op& op) {
  const std::string where = node(op);
  Shape a = in_shape(g, op, 0), b = in_shape(g, op, 1);
  if (a.empty() || b.empty()) throw Error(where, "MatMul of a scalar");
  const bool va = a.size() == 1, vb = b.size() == 1;
  if (va) a.insert(a.begin(), 1);
  if (vb) b.push_back(1);
  if (a.back() != b[b.size() - 2]) throw Error(where, "inner dims differ: " + shape_str(a) + " x " + shape_str(b));
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape s = broadcast_shapes(ba, bb, where);
  if (!va) s.push_back(a[a.size() - 2]);
  if (!vb) s.push_back(b.back());
  return {out(op, 0, DType::kFloat32, s)};
}

std::vector<TensorInfo> shape_concat(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x0 = in_info(g, op, 0);
  const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(x0.shape.size()), op);
  Shape s = x0.shape;
  for (size_t i = 1; i < op.inputs.size(); ++i) {
    const Shape& xi = in_shape(g, op, i);
    if (xi.size() != s.size()) throw Error(where, "inputs have different ranks");
    for (size_t d = 0; d < s.size(); ++d)
      if (static_cast<int64_t>(d) != axis && xi[d] != s[d])
        throw Error(where, "input " + std::to_string(i) + " " + shape_str(xi) + " does not match " + shape_str(x0.shape));
    s[static_cast<size_t>(axis)] += xi[static_cast<size_t>(axis)];
  }
  return {out(op, 0, x0.dtype, s)};
}

std::vector<TensorInfo> shape_split(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), op);
  const int64_t dim = x.shape[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes = op.attr_ints("split");
  if (sizes.empty() && op.input(1)) sizes = need_ints(g, op, 1, "split");
  const int64_t n = static_cast<int64_t>(op.outputs.size());
  if (sizes.empty()) {
    const int64_t each = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::min(each, dim - i * each));
  }
  int64_t sum = 0;
  for (int64_t v : sizes) sum += v;
  if (static_cast<int64_t>(sizes.size()) != n || sum != dim)
    throw Error(where, "split sizes do not add up to dim " + std::to_string(dim));
  std::vector<TensorInfo> r;
  for (int64_t i = 0; i < n; ++i) {
    Shape s = x.shape;
    s[static_cast<size_t>(axis)] = sizes[static_cast<size_t>(i)];
    r.push_back(out(op, static_cast<size_t>(i), x.dtype, s));
  }
  return r;
}

std::vector<TensorInfo> shape_slice(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (g.opset < 10 || op.has_attr("starts")) {
    starts = op.attr_ints("starts");
    ends = op.attr_ints("ends");
    axes = op.attr_ints("axes");
  } else {
    starts = need_ints(g, op, 1, "starts");
    ends = need_ints(g, op, 2, "ends");
    if (op.input(3)) axes = need_ints(g, op, 3, "axes");
    if (op.input(4)) steps = need_ints(g, op, 4, "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw Error(where, "starts/ends/axes/steps lengths differ");
  Shape s = x.shape;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(axes[i], rank, op);
    const int64_t dim = x.shape[static_cast<size_t>(a)], step = steps[i];
    if (step == 0) throw Error(where, "step 0");
    if (step > (int64_t{1} << 40) || step < -(int64_t{1} << 40)) throw Error(where, "step out of range");
    s[static_cast<size_t>(a)] = slice_range(dim, starts[i], ends[i], step).count;
  }
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_resize(const Graph& g, const Op& op) {
  const std::string& t = op.type;
  const std::string where = node(op);
  const Shape& x = in_shape(g, op, 0);
  std::optional<std::vector<float>> scales;
  std::optional<std::vector<int64_t>> sizes;
  if (t == "Upsample") {
    scales = op.has_attr("scales") ? std::optional(op.attr_floats("scales")) : const_floats(g, op, 1);
  } else {
    if (op.input(3)) sizes = const_ints(g, op, 3);
    if (!sizes && op.input(2)) {
      scales = const_floats(g, op, 2);
      if (scales && scales->empty()) scales.reset();
    }
    if (!sizes && !scales && op.input(1) && g.opset < 11) scales = const_floats(g, op, 1);
  }
  Shape s;
  if (sizes && !sizes->empty()) {
    if (sizes->size() != x.size()) throw Error(where, "sizes has the wrong rank");
    s = *sizes;
  } else if (scales) {
    if (scales->size() != x.size()) throw Error(where, "scales has " + std::to_string(scales->size()) + " values for rank " + std::to_string(x.size()));
    for (size_t i = 0; i < x.size(); ++i) s.push_back(static_cast<int64_t>(std::floor(x[i] * (*scales)[i])));
  } else {
    throw Error(where, "scales or sizes must be constant");
  }
  return {out(op, 0, DType::kFloat32, s)};
}

std::vector<TensorInfo> shape_flatten(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = op.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) throw Error(where, "axis out of range");
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? a : b) *= x.shape[static_cast<size_t>(i)];
  return {out(op, 0, x.dtype, {a, b})};
}

std::vector<TensorInfo> shape_reshape(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  std::vector<int64_t> target = op.has_attr("shape") ? op.attr_ints("shape") : need_ints(g, op, 1, "shape");
  Shape s;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0) {
      if (i >= x.shape.size()) throw Error(where, "0 in shape copies a dim the input lacks");
      d = x.shape[i];
    }
    if (d == -1) {
      if (infer >= 0) throw Error(where, "more than one -1 in shape");
      infer = static_cast<int64_t>(i);
      s.push_back(1);
      continue;
    }
    if (d < 0) throw Error(where, "negative dim in shape");
    known *= d;
    s.push_back(d);
  }
  const int64_t total = numel(x.shape);
  if (infer >= 0) {
    if (known == 0 || total % known != 0) throw Error(where, "cannot reshape " + shape_str(x.shape) + " to " + shape_str(target));
    s[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    throw Error(where, "cannot reshape " + shape_str(x.shape) + " (" + std::to_string(total) + " elements) to " + shape_str(s));
  }
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_transpose(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  std::vector<int64_t> perm = op.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(x.shape.size()) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != x.shape.size()) throw Error(where, "perm has the wrong length");
  Shape s;
  for (int64_t p : perm) s.push_back(x.shape.at(static_cast<size_t>(norm_axis(p, static_cast<int64_t>(x.shape.size()), op))));
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_pad(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  std::vector<int64_t> pads = op.has_attr("pads") ? op.attr_ints("pads") : need_ints(g, op, 1, "pads");
  const size_t r = x.shape.size();
  if (pads.size() != 2 * r) throw Error(where, "pads needs " + std::to_string(2 * r) + " values");
  Shape s = x.shape;
  for (size_t i = 0; i < r; ++i) s[i] += pads[i] + pads[i + r];
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_constant(const Graph& g, const Op& op) {
  const std::string where = node(op);
  if (const Tensor* v = op.attr_tensor("value")) return {out(op, 0, v->dtype, v->shape)};
  if (op.has_attr("value_float")) return {out(op, 0, DType::kFloat32, {})};
  if (op.has_attr("value_int")) return {out(op, 0, DType::kInt64, {})};
  if (op.has_attr("value_floats")) return {out(op, 0, DType::kFloat32, {static_cast<int64_t>(op.attr_floats("value_floats").size())})};
  if (op.has_attr("value_ints")) return {out(op, 0, DType::kInt64, {static_cast<int64_t>(op.attr_ints("value_ints").size())})};
  throw Error(where, "Constant without a supported value attribute");
}

std::vector<TensorInfo> shape_shape(const Graph& g, const Op& op) {
  const int64_t r = static_cast<int64_t>(in_shape(g, op, 0).size());
  int64_t st = op.attr_int("start", 0), en = op.attr_int("end", r);
  if (st < 0) st += r;
  if (en < 0) en += r;
  st = std::clamp<int64_t>(st, 0, r);
  en = std::clamp<int64_t>(en, 0, r);
  return {out(op, 0, DType::kInt64, {std::max<int64_t>(0, en - st)})};
}

std::vector<TensorInfo> shape_gather(const Graph& g, const Op& op) {
  const TensorInfo& x = in_info(g, op, 0);
  const Shape& idx = in_shape(g, op, 1);
  const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), op);
  Shape s(x.shape.begin(), x.shape.begin() + axis);
  s.insert(s.end(), idx.begin(), idx.end());
  s.insert(s.end(), x.shape.begin() + axis + 1, x.shape.end());
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_squeeze(const Graph& g, const Op& op) {
  const std::string& t = op.type;
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  std::vector<int64_t> axes = op.attr_ints("axes");
  if (!op.has_attr("axes") && op.input(1)) axes = need_ints(g, op, 1, "axes");
  if (t == "Unsqueeze") {
    const int64_t r = static_cast<int64_t>(x.shape.size() + axes.size());
    std::set<int64_t> ax;
    for (int64_t a : axes) ax.insert(norm_axis(a, r, op));
    Shape s;
    size_t j = 0;
    for (int64_t i = 0; i < r; ++i) s.push_back(ax.count(i) ? 1 : x.shape.at(j++));
    return {out(op, 0, x.dtype, s)};
  }
  std::set<int64_t> ax;
  for (int64_t a : axes) ax.insert(norm_axis(a, static_cast<int64_t>(x.shape.size()), op));
  Shape s;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    const bool drop = axes.empty() ? x.shape[i] == 1 : ax.count(static_cast<int64_t>(i)) != 0;
    if (drop && x.shape[i] != 1) throw Error(where, "cannot squeeze dim " + std::to_string(i) + " of size " + std::to_string(x.shape[i]));
    if (!drop) s.push_back(x.shape[i]);
  }
  return {out(op, 0, x.dtype, s)};
}

std::vector<TensorInfo> shape_cast(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const int64_t to = op.attr_int("to", 1);
  DType d = to == 1 ? DType::kFloat32 : to == 6 ? DType::kInt32 : to == 7 ? DType::kInt64 : to == 9 ? DType::kBool : DType::kUnknown;
  if (d == DType::kUnknown) throw Error(where, "Cast to ONNX type " + std::to_string(to) + " is not supported");
  return {out(op, 0, d, in_shape(g, op, 0))};
}

std::vector<TensorInfo> shape_constant_of_shape(const Graph& g, const Op& op) {
  auto s = need_ints(g, op, 0, "shape");
  DType d = DType::kFloat32;
  if (const Tensor* v = op.attr_tensor("value")) d = v->dtype;
  return {out(op, 0, d, s)};
}

std::vector<TensorInfo> shape_expand(const Graph& g, const Op& op) {
  const std::string where = node(op);
  const TensorInfo& x = in_info(g, op, 0);
  return {out(op, 0, x.dtype, broadcast_shapes(x.shape, need_ints(g, op, 1, "shape"), where))};
}

std::vector<TensorInfo> shape_range(const Graph& g, const Op& op) {
  const std::string where = node(op);
  auto st = const_floats(g, op, 0), li = const_floats(g, op, 1), de = const_floats(g, op, 2);
  if (!st || !li || !de || st->empty() || li->empty() || de->empty() || (*de)[0] == 0.0f)
    throw Error(where, "Range needs constant start/limit/delta");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(((*li)[0] - (*st)[0]) / (*de)[0])));
  return {out(op, 0, in_info(g, op, 0).dtype, {n})};
}

std::vector<TensorInfo> shape_not(const Graph& g, const Op& op) {
  return {out(op, 0, DType::kBool, in_shape(g, op, 0))};
}

std::vector<TensorInfo> shape_scatter_nd(const Graph& g, const Op& op) {
  const TensorInfo& data = in_info(g, op, 0);
  return {out(op, 0, data.dtype, data.shape)};
}

// Keyed by the op registry's names; a test checks that the two hold the same ops.
const std::map<std::string, ShapeFunction>& shape_table() {
  static const std::map<std::string, ShapeFunction> table = {
      {"Abs", shape_like_input},
      {"Add", shape_binary},
      {"AveragePool", shape_pool},
      {"BatchNormalization", shape_like_input},
      {"Cast", shape_cast},
      {"Clip", shape_like_input},
      {"Concat", shape_concat},
      {"Constant", shape_constant},
      {"ConstantOfShape", shape_constant_of_shape},
      {"Conv", shape_conv},
      {"Div", shape_binary},
      {"Dropout", shape_dropout},
      {"Equal", shape_binary},
      {"Erf", shape_like_input},
      {"Exp", shape_like_input},
      {"Expand", shape_expand},
      {"Flatten", shape_flatten},
      {"Gather", shape_gather},
      {"Gelu", shape_like_input},
      {"Gemm", shape_gemm},
      {"GlobalAveragePool", shape_global_pool},
      {"GlobalMaxPool", shape_global_pool},
      {"Greater", shape_binary},
      {"HardSigmoid", shape_like_input},
      {"HardSwish", shape_like_input},
      {"Identity", shape_like_input},
      {"LayerNormalization", shape_layer_norm},
      {"LeakyRelu", shape_like_input},
      {"Less", shape_binary},
      {"MatMul", shape_matmul},
      {"Max", shape_binary},
      {"MaxPool", shape_pool},
      {"Min", shape_binary},
      {"Mod", shape_binary},
      {"Not", shape_not},
      {"ScatterND", shape_scatter_nd},
      {"Mul", shape_binary},
      {"Neg", shape_like_input},
      {"Pad", shape_pad},
      {"Pow", shape_binary},
      {"Range", shape_range},
      {"ReduceMax", shape_reduce},
      {"ReduceMean", shape_reduce},
      {"ReduceSum", shape_reduce},
      {"Relu", shape_like_input},
      {"Reshape", shape_reshape},
      {"Resize", shape_resize},
      {"Shape", shape_shape},
      {"Sigmoid", shape_like_input},
      {"Slice", shape_slice},
      {"Softmax", shape_like_input},
      {"Split", shape_split},
      {"Sqrt", shape_like_input},
      {"Squeeze", shape_squeeze},
      {"Sub", shape_binary},
      {"Tanh", shape_like_input},
      {"Transpose", shape_transpose},
      {"Unsqueeze", shape_squeeze},
      {"Upsample", shape_resize},
      {"Where", shape_where},
  };
  return table;
}

}  // namespace

ShapeFunction shape_function(const std::string& type) {
  const auto& t = shape_table();
  auto it = t.find(type);
  return it == t.end() ? nullptr : it->second;
}

std::vector<TensorInfo> infer_op(const Graph& g, const Op& op) {
  const std::string& t = op.type;
  const std::string where = node(op);
  if (op.unknown) {
    // Unknown ops keep what ONNX inferred for them, else act as elementwise on their first input.
    std::vector<TensorInfo> r;
    bool all_known = !op.outputs.empty();
    for (const auto& o : op.outputs) {
      const TensorInfo* t = g.tensor_info(o);
      if (t && t->known) r.push_back(*t);
      else all_known = false;
    }
    if (all_known) return r;
    r.clear();
    const TensorInfo& x = in_info(g, op, 0);
    for (size_t i = 0; i < op.outputs.size(); ++i) r.push_back(out(op, i, x.dtype, x.shape));
    return r;
  }
  if (ShapeFunction f = shape_function(t)) return f(g, op);
  throw Error(where, "op type '" + t + "' is not supported (see `hilsim inspect --ops`; --allow-unknown treats it as memory-bound)");
}

void infer_shapes(Graph& g) {
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    for (TensorInfo& t : infer_op(g, op)) {
      if (t.name.empty()) continue;
      const int64_t n = numel(t.shape);
      if (n > (int64_t{1} << 38)) throw Error(node(op), "output " + shape_str(t.shape) + " exceeds 2^40 bytes");
      g.set_tensor_info(std::move(t));
    }
  }
}

namespace {

// Evaluates the integer / small-constant ops of exporter shape chains. Returns false when the op is
// not one of them (it then stays in the graph).
bool eval_const(const Graph& g, const Op& op, std::vector<Tensor>& outs) {
  const OpSpec* spec = op.unknown ? nullptr : find_op_spec(op.type);
  if (!spec || !spec->foldable) return false;
  auto cin = [&](size_t i) -> const Tensor& { return *g.constant(op.inputs[i]); };
  auto infos = infer_op(g, op);
  auto make = [&](size_t i) {
    Tensor t;
    t.name = infos[i].name;
    t.dtype = infos[i].dtype;
    t.shape = infos[i].shape;
    const size_t n = static_cast<size_t>(numel(t.shape));
    if (t.dtype == DType::kFloat32) t.f32.resize(n);
    else t.i64.resize(n);
    return t;
  };
  // Values of input i as doubles (flat), for generic element-wise evaluation.
  auto vals = [&](const Tensor& t) {
    std::vector<double> v;
    if (t.dtype == DType::kFloat32) v.assign(t.f32.begin(), t.f32.end());
    else v.assign(t.i64.begin(), t.i64.end());
    return v;
  };
  auto store = [](Tensor& t, size_t i, double v) {
    if (t.dtype == DType::kFloat32) t.f32[i] = static_cast<float>(v);
    else t.i64[i] = static_cast<int64_t>(v);
  };
  auto strides_of = [](const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
    return st;
  };
  // Index into a broadcast input from an output multi-index.
  auto bidx = [&](const Shape& in, const Shape& o, const std::vector<int64_t>& oi) {
    auto st = strides_of(in);
    int64_t idx = 0;
    const size_t off = o.size() - in.size();
    for (size_t d = 0; d < in.size(); ++d) idx += (in[d] == 1 ? 0 : oi[d + off]) * st[d];
    return static_cast<size_t>(idx);
  };
  auto unravel = [](const Shape& s, int64_t flat) {
    std::vector<int64_t> idx(s.size());
    for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
      idx[d] = s[d] ? flat % s[d] : 0;
      if (s[d]) flat /= s[d];
    }
    return idx;
  };
  const std::string& t = op.type;
  if (t == "Shape") {
    const Shape& s = g.shape(op.inputs[0]);
    Tensor o = make(0);
    const int64_t r = static_cast<int64_t>(s.size());
    int64_t st = op.attr_int("start", 0);
    if (st < 0) st += r;
    st = std::clamp<int64_t>(st, 0, r);
    for (size_t i = 0; i < o.i64.size(); ++i) o.i64[i] = s[static_cast<size_t>(st) + i];
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "Constant") {
    Tensor o = make(0);
    if (const Tensor* v = op.attr_tensor("value")) {
      o.f32 = v->f32;
      o.i64 = v->i64;
    } else if (op.has_attr("value_float")) {
      o.f32 = {op.attr_float("value_float", 0)};
    } else if (op.has_attr("value_int")) {
      o.i64 = {op.attr_int("value_int", 0)};
    } else if (op.has_attr("value_floats")) {
      o.f32 = op.attr_floats("value_floats");
    } else {
      o.i64 = op.attr_ints("value_ints");
    }
    outs.push_back(std::move(o));
    return true;
  }
  for (const auto& in : op.inputs)
    if (!in.empty() && !g.is_constant(in)) return false;
  if (t == "Identity" || t == "Reshape" || t == "Flatten" || t == "Squeeze" || t == "Unsqueeze" || t == "Cast" ||
      t == "Dropout") {
    Tensor o = make(0);
    auto v = vals(cin(0));
    for (size_t i = 0; i < v.size(); ++i) store(o, i, v[i]);
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "Not") {
    Tensor o = make(0);
    auto v = vals(cin(0));
    for (size_t i = 0; i < v.size(); ++i) store(o, i, v[i] == 0);
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "ScatterND") {
    // Exported shifted-window masks: zeros with slices written in; `reduction` other than none stays.
    if (op.attr_string("reduction", "none") != "none") return false;
    const Tensor &data = cin(0), &idx = cin(1), &upd = cin(2);
    if (data.numel() > (1 << 20) || idx.shape.empty()) return false;
    Tensor o = make(0);
    auto v = vals(data), u = vals(upd);
    for (size_t i = 0; i < v.size(); ++i) store(o, i, v[i]);
    const size_t k = static_cast<size_t>(idx.shape.back());
    if (k == 0 || k > data.shape.size()) throw Error(node(op), "index depth " + std::to_string(k) + " does not fit the data");
    const auto st = strides_of(data.shape);
    const int64_t slice = st[k - 1], n = idx.numel() / static_cast<int64_t>(k);
    if (static_cast<int64_t>(u.size()) != n * slice) throw Error(node(op), "updates do not match the indices");
    for (int64_t j = 0; j < n; ++j) {
      int64_t off = 0;
      for (size_t d = 0; d < k; ++d) {
        int64_t i = idx.i64[static_cast<size_t>(j) * k + d];
        if (i < 0) i += data.shape[d];
        if (i < 0 || i >= data.shape[d]) throw Error(node(op), "index " + std::to_string(i) + " out of range");
        off += i * st[d];
      }
      for (int64_t e = 0; e < slice; ++e) store(o, static_cast<size_t>(off + e), u[static_cast<size_t>(j * slice + e)]);
    }
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div" || t == "Equal" || t == "Where" || t == "Expand" ||
      t == "Max" || t == "Min" || t == "Pow" || t == "Less" || t == "Greater" || t == "Mod") {
    Tensor o = make(0);
    if (numel(o.shape) > (1 << 20)) return false;  // big float maths stays in the graph
    const size_t nin = t == "Where" ? 3 : t == "Expand" ? 1 : 2;
    if (op.inputs.size() > nin && t != "Expand") return false;  // a Max / Min of three or more stays
    std::vector<std::vector<double>> v;
    for (size_t i = 0; i < nin; ++i) v.push_back(vals(cin(i)));
    for (int64_t f = 0; f < numel(o.shape); ++f) {
      auto oi = unravel(o.shape, f);
      auto at = [&](size_t i) { return v[i][bidx(cin(i).shape, o.shape, oi)]; };
      double r = 0;
      if (t == "Expand") r = at(0);
      else if (t == "Where") r = at(0) != 0 ? at(1) : at(2);
      else {
        const double a = at(0), b = at(1);
        if (t == "Add") r = a + b;
        else if (t == "Sub") r = a - b;
        else if (t == "Mul") r = a * b;
        else if (t == "Div") {
          if (b == 0) return false;
          r = o.dtype == DType::kFloat32 ? a / b : std::floor(a / b);
        } else if (t == "Equal") r = a == b;
        else if (t == "Less") r = a < b;
        else if (t == "Greater") r = a > b;
        else if (t == "Max") r = std::max(a, b);
        else if (t == "Min") r = std::min(a, b);
        else if (t == "Mod") {
          if (b == 0) return false;
          // fmod = 0 on integers takes the divisor's sign (Python's %); fmod = 1 and floats are C's fmod.
          r = std::fmod(a, b);
          if (o.dtype != DType::kFloat32 && op.attr_int("fmod", 0) == 0 && r != 0 && ((r < 0) != (b < 0))) r += b;
        } else r = std::pow(a, b);
      }
      store(o, static_cast<size_t>(f), r);
    }
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "Concat" || t == "Gather" || t == "Slice" || t == "Transpose" || t == "Split") {
    const Tensor& x = cin(0);
    if (x.numel() > (1 << 20)) return false;
    auto v = vals(x);
    auto xs = strides_of(x.shape);
    if (t == "Concat") {
      Tensor o = make(0);
      const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(o.shape.size()), op);
      int64_t base = 0;
      for (size_t i = 0; i < op.inputs.size(); ++i) {
        const Tensor& xi = cin(i);
        auto vi = vals(xi);
        for (int64_t f = 0; f < xi.numel(); ++f) {
          auto idx = unravel(xi.shape, f);
          idx[static_cast<size_t>(axis)] += base;
          int64_t flat = 0;
          auto os = strides_of(o.shape);
          for (size_t d = 0; d < idx.size(); ++d) flat += idx[d] * os[d];
          store(o, static_cast<size_t>(flat), vi[static_cast<size_t>(f)]);
        }
        base += xi.shape[static_cast<size_t>(axis)];
      }
      outs.push_back(std::move(o));
      return true;
    }
    if (t == "Gather") {
      Tensor o = make(0);
      const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), op);
      auto ind = vals(cin(1));
      const Shape& is = cin(1).shape;
      for (int64_t f = 0; f < numel(o.shape); ++f) {
        auto oi = unravel(o.shape, f);
        int64_t flat_ind = 0;
        auto iss = strides_of(is);
        for (size_t d = 0; d < is.size(); ++d) flat_ind += oi[static_cast<size_t>(axis) + d] * iss[d];
        int64_t k = static_cast<int64_t>(ind[static_cast<size_t>(flat_ind)]);
        const int64_t dim = x.shape[static_cast<size_t>(axis)];
        if (k < 0) k += dim;
        if (k < 0 || k >= dim) throw Error(node(op), "index " + std::to_string(k) + " out of range");
        int64_t src = 0;
        for (int64_t d = 0; d < axis; ++d) src += oi[d] * xs[d];
        src += k * xs[axis];
        for (size_t d = static_cast<size_t>(axis) + 1; d < x.shape.size(); ++d) src += oi[d + is.size() - 1] * xs[d];
        store(o, static_cast<size_t>(f), v[static_cast<size_t>(src)]);
      }
      outs.push_back(std::move(o));
      return true;
    }
    if (t == "Transpose") {
      Tensor o = make(0);
      std::vector<int64_t> perm = op.attr_ints("perm");
      if (perm.empty())
        for (int64_t i = static_cast<int64_t>(x.shape.size()) - 1; i >= 0; --i) perm.push_back(i);
      for (int64_t f = 0; f < numel(o.shape); ++f) {
        auto oi = unravel(o.shape, f);
        int64_t src = 0;
        for (size_t d = 0; d < perm.size(); ++d) src += oi[d] * xs[static_cast<size_t>(perm[d])];
        store(o, static_cast<size_t>(f), v[static_cast<size_t>(src)]);
      }
      outs.push_back(std::move(o));
      return true;
    }
    if (t == "Split") {
      const int64_t axis = norm_axis(op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), op);
      int64_t base = 0;
      for (size_t k = 0; k < infos.size(); ++k) {
        Tensor o = make(k);
        for (int64_t f = 0; f < numel(o.shape); ++f) {
          auto oi = unravel(o.shape, f);
          oi[static_cast<size_t>(axis)] += base;
          int64_t src = 0;
          for (size_t d = 0; d < oi.size(); ++d) src += oi[d] * xs[d];
          store(o, static_cast<size_t>(f), v[static_cast<size_t>(src)]);
        }
        base += o.shape[static_cast<size_t>(axis)];
        outs.push_back(std::move(o));
      }
      return true;
    }
    // Slice: recompute starts/steps as infer_op did.
    Tensor o = make(0);
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    std::vector<int64_t> starts, axes, steps;
    if (op.has_attr("starts")) {
      starts = op.attr_ints("starts");
      axes = op.attr_ints("axes");
    } else {
      starts = *const_ints(g, op, 1);
      if (op.input(3)) axes = *const_ints(g, op, 3);
      if (op.input(4)) steps = *const_ints(g, op, 4);
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    std::vector<int64_t> st(static_cast<size_t>(rank), 0), sp(static_cast<size_t>(rank), 1);
    for (size_t i = 0; i < starts.size(); ++i) {
      const size_t a = static_cast<size_t>(norm_axis(axes[i], rank, op));
      const int64_t dim = x.shape[a];
      int64_t s0 = starts[i];
      if (s0 < 0) s0 += dim;
      s0 = steps[i] > 0 ? std::clamp<int64_t>(s0, 0, dim) : std::clamp<int64_t>(s0, -1, dim - 1);
      st[a] = s0;
      sp[a] = steps[i];
    }
    for (int64_t f = 0; f < numel(o.shape); ++f) {
      auto oi = unravel(o.shape, f);
      int64_t src = 0;
      for (size_t d = 0; d < oi.size(); ++d) src += (st[d] + oi[d] * sp[d]) * xs[d];
      store(o, static_cast<size_t>(f), v[static_cast<size_t>(src)]);
    }
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "ConstantOfShape") {
    Tensor o = make(0);
    double fill = 0;
    if (const Tensor* v = op.attr_tensor("value")) fill = v->dtype == DType::kFloat32 ? v->f32.at(0) : v->i64.at(0);
    for (int64_t i = 0; i < numel(o.shape); ++i) store(o, static_cast<size_t>(i), fill);
    outs.push_back(std::move(o));
    return true;
  }
  if (t == "Range") {
    Tensor o = make(0);
    const double s0 = vals(cin(0))[0], d = vals(cin(2))[0];
    for (int64_t i = 0; i < numel(o.shape); ++i) store(o, static_cast<size_t>(i), s0 + d * static_cast<double>(i));
    outs.push_back(std::move(o));
    return true;
  }
  return false;
}

}  // namespace

int fold_constants(Graph& g) {
  int folded = 0;
  std::vector<OpId> dead;
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    for (TensorInfo& t : infer_op(g, op))
      if (!t.name.empty()) g.set_tensor_info(std::move(t));
    std::vector<Tensor> outs;
    if (!eval_const(g, op, outs)) continue;
    for (Tensor& t : outs)
      if (!t.name.empty()) g.set_constant(std::move(t));
    dead.push_back(id);
    ++folded;
  }
  // A folded tensor that is a graph output stays visible: it is a constant now, not an op's output.
  g.remove_dead_ops(dead);
  return folded;
}

}  // namespace hilsim::graph
