#include "hilsim/runtime/reference_executor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <set>

#include "hilsim/graph/shape_inference.h"
#include "hilsim/graph/slice_range.h"
#include "hilsim/kernels/reference_ops.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

using graph::DType;
using graph::Op;
using graph::Shape;
using graph::Tensor;

namespace {

// ---- helpers over flat tensors -------------------------------------------------------------------
// Shapes are computed here from the actual tensors, never taken from the graph's tensor infos, so the
// reference stays an independent check of shape inference.

int64_t count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

void unravel(int64_t flat, const Shape& s, std::vector<int64_t>& idx) {
  idx.resize(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = s[d] ? flat % s[d] : 0;
    if (s[d]) flat /= s[d];
  }
}

bool is_float(const Tensor& t) { return t.dtype == DType::kFloat32; }
double get(const Tensor& t, int64_t i) { return is_float(t) ? t.f32[i] : static_cast<double>(t.i64[i]); }
void set(Tensor& t, int64_t i, double v) {
  if (is_float(t)) t.f32[i] = static_cast<float>(v);
  else t.i64[i] = static_cast<int64_t>(v);
}
// Exact element copy between tensors of the same storage (ints never pass through double).
void copy_el(Tensor& dst, int64_t di, const Tensor& src, int64_t si) {
  if (is_float(dst)) dst.f32[di] = src.f32[si];
  else dst.i64[di] = src.i64[si];
}

// Fills o (shape os) element by element from x, at the offset `src` gives for each output index.
template <typename F>
void copy_by_index(Tensor& o, const Tensor& x, const Shape& os, F src) {
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    copy_el(o, i, x, src(oi));
  }
}

Tensor make(const std::string& name, DType d, Shape s) {
  Tensor t;
  t.name = name;
  t.dtype = d;
  t.shape = std::move(s);
  const size_t n = static_cast<size_t>(std::max<int64_t>(0, count(t.shape)));
  if (d == DType::kFloat32) t.f32.assign(n, 0.0f);
  else t.i64.assign(n, 0);
  return t;
}

std::string dims(const Shape& s) { return graph::shape_str(s); }

// numpy broadcasting of two shapes: shape inference's rule, so the two never disagree on a graph.
Shape broadcast(const Shape& a, const Shape& b, const std::string& where) { return graph::broadcast_shapes(a, b, where); }

// Flat index into a broadcast operand of shape `in` for output multi-index `oi`.
int64_t bcast_index(const Shape& in, const std::vector<int64_t>& in_strides, const Shape& out,
                    const std::vector<int64_t>& oi) {
  int64_t idx = 0;
  const size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) idx += (in[d] == 1 ? 0 : oi[d + off]) * in_strides[d];
  return idx;
}

int64_t norm_axis(int64_t a, int64_t rank, const std::string& where) {
  if (a < -rank || a >= rank) throw Error(where, "axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
  return a < 0 ? a + rank : a;
}

std::vector<int64_t> ints_of(const Tensor& t) {
  std::vector<int64_t> v;
  v.reserve(static_cast<size_t>(std::max<int64_t>(0, t.numel())));
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(is_float(t) ? static_cast<int64_t>(t.f32[i]) : t.i64[i]);
  return v;
}

kernels::Epilogue epilogue_of(const graph::FusedActivation& f) {
  kernels::Epilogue e;
  switch (f.kind) {
    case graph::Activation::kNone: e.act = kernels::Act::kNone; break;
    case graph::Activation::kRelu: e.act = kernels::Act::kRelu; break;
    case graph::Activation::kClip: e.act = kernels::Act::kClip; break;
    case graph::Activation::kSigmoid: e.act = kernels::Act::kSigmoid; break;
    case graph::Activation::kSiLU: e.act = kernels::Act::kSiLU; break;
    case graph::Activation::kHardSwish: e.act = kernels::Act::kHardSwish; break;
    case graph::Activation::kHardSigmoid: e.act = kernels::Act::kHardSigmoid; break;
  }
  e.min = f.min;
  e.max = f.max;
  e.alpha = f.alpha;
  e.beta = f.beta;
  return e;
}

// A tensor whose data does not match its shape would make every loop below read out of bounds.
void check_tensor(const Tensor& t, const std::string& where, const std::string& what) {
  for (int64_t d : t.shape)
    if (d < 0) throw Error(where, what + " has a negative dim " + dims(t.shape));
  const size_t n = static_cast<size_t>(count(t.shape));
  const size_t have = is_float(t) ? t.f32.size() : t.i64.size();
  if (have != n)
    throw Error(where, what + " holds " + std::to_string(have) + " values for shape " + dims(t.shape));
}

// ---- the ops ---------------------------------------------------------------------------------------

struct Ctx {
  const graph::Graph& g;
  const Op& op;
  std::vector<const Tensor*> in;  // nullptr for an absent optional input
  std::string where;

  const Tensor& x(size_t i) const {
    if (i >= in.size() || !in[i]) throw Error(where, "input " + std::to_string(i) + " is missing");
    return *in[i];
  }
  // Input i, which must be fp32.
  const Tensor& f(size_t i) const {
    const Tensor& t = x(i);
    if (!is_float(t)) throw Error(where, "input " + std::to_string(i) + " must be float32, is " + graph::dtype_name(t.dtype));
    return t;
  }
  bool has(size_t i) const { return i < in.size() && in[i]; }
  const std::string& out(size_t i = 0) const {
    if (i >= op.outputs.size()) throw Error(where, "output " + std::to_string(i) + " is missing");
    return op.outputs[i];
  }
  int64_t opset() const { return g.opset; }
  void need_count(const Tensor& t, int64_t n, const std::string& what) const {
    if (t.numel() != n)
      throw Error(where, what + " has " + std::to_string(t.numel()) + " values, expected " + std::to_string(n));
  }
  // An attribute list of ints, or else input i (the attr-vs-input forms move between opsets).
  std::optional<std::vector<int64_t>> ints(const std::string& attr, size_t i) const {
    if (op.has_attr(attr)) return op.attr_ints(attr);
    if (has(i)) return ints_of(x(i));
    return std::nullopt;
  }
};

// Spatial window parameters (conv and pooling), resolved with auto_pad.
struct Window {
  std::vector<int64_t> kernel, strides, dilations, pad_lo, pad_hi;
};

Window window(const Ctx& c, const Shape& spatial, std::vector<int64_t> kernel) {
  const size_t r = spatial.size();
  Window w;
  w.kernel = std::move(kernel);
  w.strides = c.op.attr_ints("strides", std::vector<int64_t>(r, 1));
  w.dilations = c.op.attr_ints("dilations", std::vector<int64_t>(r, 1));
  std::vector<int64_t> pads = c.op.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  if (w.kernel.size() != r || w.strides.size() != r || w.dilations.size() != r || pads.size() != 2 * r)
    throw Error(c.where, "kernel/strides/dilations/pads do not match " + std::to_string(r) + " spatial dims");
  for (size_t d = 0; d < r; ++d) {
    if (w.kernel[d] <= 0 || w.strides[d] <= 0 || w.dilations[d] <= 0)
      throw Error(c.where, "kernel, strides and dilations must be positive");
    if (pads[d] < 0 || pads[d + r] < 0) throw Error(c.where, "negative pads");
  }
  w.pad_lo.assign(pads.begin(), pads.begin() + r);
  w.pad_hi.assign(pads.begin() + r, pads.end());
  const std::string ap = c.op.attr_string("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    for (size_t d = 0; d < r; ++d) {
      const int64_t out = (spatial[d] + w.strides[d] - 1) / w.strides[d];
      const int64_t total =
          std::max<int64_t>(0, (out - 1) * w.strides[d] + (w.kernel[d] - 1) * w.dilations[d] + 1 - spatial[d]);
      // SAME_UPPER puts the odd cell at the end, SAME_LOWER at the start.
      w.pad_lo[d] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_hi[d] = total - w.pad_lo[d];
    }
  } else if (ap == "VALID") {
    std::fill(w.pad_lo.begin(), w.pad_lo.end(), 0);
    std::fill(w.pad_hi.begin(), w.pad_hi.end(), 0);
  } else if (ap != "NOTSET") {
    throw Error(c.where, "auto_pad '" + ap + "' is not supported");
  }
  return w;
}

// A 1-D or 2-D window's strides, dilations and pads into a conv or pool shape (1-D: H is 1).
template <class Shape2d>
void set_window_2d(Shape2d& s, const Window& win, bool one_d) {
  const size_t d0 = one_d ? 0 : 1;  // index of the W axis in the window vectors
  s.stride_h = one_d ? 1 : win.strides[0];
  s.stride_w = win.strides[d0];
  s.dil_h = one_d ? 1 : win.dilations[0];
  s.dil_w = win.dilations[d0];
  s.pad_top = one_d ? 0 : win.pad_lo[0];
  s.pad_bottom = one_d ? 0 : win.pad_hi[0];
  s.pad_left = win.pad_lo[d0];
  s.pad_right = win.pad_hi[d0];
}

Tensor conv(const Ctx& c) {
  const Tensor &x = c.f(0), &w = c.f(1);
  const size_t rank = x.shape.size();
  if ((rank != 3 && rank != 4) || w.shape.size() != rank)
    throw Error(c.where, "the reference runs 1-D and 2-D convolutions only; input " + dims(x.shape) + ", weight " + dims(w.shape));
  const bool one_d = rank == 3;
  const Shape spatial(x.shape.begin() + 2, x.shape.end());
  const Window win = window(c, spatial, c.op.attr_ints("kernel_shape", Shape(w.shape.begin() + 2, w.shape.end())));
  if (win.kernel != Shape(w.shape.begin() + 2, w.shape.end())) throw Error(c.where, "kernel_shape differs from the weight");
  kernels::ConvShape s;
  s.n = x.shape[0];
  s.c = x.shape[1];
  s.f = w.shape[0];
  s.groups = c.op.attr_int("group", 1);
  if (s.groups <= 0 || s.c != w.shape[1] * s.groups || s.f % s.groups)
    throw Error(c.where, "input " + dims(x.shape) + " does not match weight " + dims(w.shape) + " with group " +
                             std::to_string(s.groups));
  s.h = one_d ? 1 : x.shape[2];
  s.w = x.shape.back();
  s.kh = one_d ? 1 : w.shape[2];
  s.kw = w.shape.back();
  set_window_2d(s, win, one_d);
  if (s.out_h() <= 0 || s.out_w() <= 0) throw Error(c.where, "the kernel does not fit the input " + dims(x.shape));
  const float* bias = nullptr;
  if (c.has(2)) {
    c.need_count(c.f(2), s.f, "bias");
    bias = c.f(2).f32.data();
  }
  Shape os = {s.n, s.f};
  if (!one_d) os.push_back(s.out_h());
  os.push_back(s.out_w());
  Tensor o = make(c.out(), DType::kFloat32, os);
  kernels::ref_conv2d(s, x.f32.data(), w.f32.data(), bias, o.f32.data());
  return o;
}

Tensor gemm(const Ctx& c) {
  const Tensor &a = c.f(0), &b = c.f(1);
  if (a.shape.size() != 2 || b.shape.size() != 2) throw Error(c.where, "Gemm needs 2-D inputs, got " + dims(a.shape) + " and " + dims(b.shape));
  const bool ta = c.op.attr_int("transA", 0) != 0, tb = c.op.attr_int("transB", 0) != 0;
  const float alpha = c.op.attr_float("alpha", 1.0f), beta = c.op.attr_float("beta", 1.0f);
  const int64_t M = ta ? a.shape[1] : a.shape[0], K = ta ? a.shape[0] : a.shape[1];
  const int64_t N = tb ? b.shape[0] : b.shape[1];
  if ((tb ? b.shape[1] : b.shape[0]) != K) throw Error(c.where, "inner dims of " + dims(a.shape) + " and " + dims(b.shape) + " differ");
  Tensor o = make(c.out(), DType::kFloat32, {M, N});
  kernels::ref_gemm(M, N, K, a.f32.data(), ta, b.f32.data(), tb, alpha, o.f32.data());
  if (c.has(2)) {
    const Tensor& cc = c.f(2);
    const Shape os = {M, N};
    if (broadcast(os, cc.shape, c.where) != os) throw Error(c.where, "C " + dims(cc.shape) + " does not broadcast to " + dims(os));
    const auto cs = strides_of(cc.shape);
    std::vector<int64_t> oi;
    for (int64_t i = 0; i < M * N; ++i) {
      unravel(i, os, oi);
      o.f32[i] = static_cast<float>(o.f32[i] + static_cast<double>(beta) * cc.f32[bcast_index(cc.shape, cs, os, oi)]);
    }
  }
  return o;
}

Tensor matmul(const Ctx& c) {
  Shape as = c.f(0).shape, bs = c.f(1).shape;
  const Tensor &a = c.f(0), &b = c.f(1);
  if (as.empty() || bs.empty()) throw Error(c.where, "MatMul of a scalar");
  const bool va = as.size() == 1, vb = bs.size() == 1;
  if (va) as.insert(as.begin(), 1);
  if (vb) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  if (bs[bs.size() - 2] != K) throw Error(c.where, "inner dims of " + dims(a.shape) + " and " + dims(b.shape) + " differ");
  const Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const Shape batch = broadcast(ba, bb, c.where);
  Shape os = batch;
  if (!va) os.push_back(M);
  if (!vb) os.push_back(N);
  Tensor o = make(c.out(), DType::kFloat32, os);
  const auto sa = strides_of(ba), sb = strides_of(bb);
  std::vector<int64_t> bi;
  const int64_t nb = count(batch);
  for (int64_t p = 0; p < nb; ++p) {
    unravel(p, batch, bi);
    const int64_t ia = bcast_index(ba, sa, batch, bi), ib = bcast_index(bb, sb, batch, bi);
    kernels::ref_gemm(M, N, K, a.f32.data() + ia * M * K, false, b.f32.data() + ib * K * N, false, 1.0f, o.f32.data() + p * M * N);
  }
  return o;
}

Tensor batchnorm(const Ctx& c) {
  const Tensor& x = c.f(0);
  if (x.shape.size() < 2) throw Error(c.where, "BatchNormalization needs rank >= 2, got " + dims(x.shape));
  const int64_t N = x.shape[0], C = x.shape[1], inner = count(Shape(x.shape.begin() + 2, x.shape.end()));
  for (size_t i = 1; i <= 4; ++i) c.need_count(c.f(i), C, "parameter " + std::to_string(i));
  Tensor o = make(c.out(), DType::kFloat32, x.shape);
  kernels::ref_batchnorm(N, C, inner, x.f32.data(), c.f(1).f32.data(), c.f(2).f32.data(), c.f(3).f32.data(), c.f(4).f32.data(),
                c.op.attr_float("epsilon", 1e-5f), o.f32.data());
  return o;
}

Tensor unary(const Ctx& c) {
  const Tensor& x = c.x(0);
  const std::string& t = c.op.type;
  if (t == "Identity" || t == "Dropout") {
    Tensor o = x;
    o.name = c.out();
    return o;
  }
  Tensor o = make(c.out(), x.dtype, x.shape);
  if (!is_float(x)) {
    // Integer chains only negate, rectify or clip.
    if (t != "Neg" && t != "Relu" && t != "Clip") throw Error(c.where, t + " needs float32 input");
  }
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  if (t == "Clip") {
    if (c.op.has_attr("min")) lo = c.op.attr_float("min", 0.0f);
    if (c.op.has_attr("max")) hi = c.op.attr_float("max", 0.0f);
    if (c.has(1)) {
      c.need_count(c.x(1), 1, "min");
      lo = get(c.x(1), 0);
    }
    if (c.has(2)) {
      c.need_count(c.x(2), 1, "max");
      hi = get(c.x(2), 0);
    }
  }
  const double alpha = c.op.attr_float("alpha", t == "LeakyRelu" ? 0.01f : 0.2f);
  const double beta = c.op.attr_float("beta", 0.5f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (!is_float(x)) {
      const int64_t v = x.i64[i];
      o.i64[i] = t == "Neg" ? -v : t == "Relu" ? std::max<int64_t>(v, 0)
                                             : static_cast<int64_t>(std::min<double>(std::max<double>(v, lo), hi));
      continue;
    }
    const double v = x.f32[i];
    double r;
    if (t == "Relu") r = v > 0 ? v : 0;
    else if (t == "LeakyRelu") r = v >= 0 ? v : alpha * v;
    else if (t == "Clip") r = std::min(std::max(v, lo), hi);
    else if (t == "Sigmoid") r = 1.0 / (1.0 + std::exp(-v));
    else if (t == "Tanh") r = std::tanh(v);
    else if (t == "HardSigmoid") r = std::min(1.0, std::max(0.0, alpha * v + beta));
    else if (t == "HardSwish") r = v * std::min(1.0, std::max(0.0, v / 6.0 + 0.5));
    else if (t == "Exp") r = std::exp(v);
    else if (t == "Sqrt") r = std::sqrt(v);
    else if (t == "Neg") r = -v;
    else if (t == "Erf") r = std::erf(v);
    else if (t == "Abs") r = std::fabs(v);
    else if (t == "Gelu" && c.op.attr_string("approximate", "none") == "tanh")  // 0.797...: sqrt(2 / pi)
      r = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    else if (t == "Gelu") r = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    else throw Error(c.where, "unary op " + t + " is not supported");
    o.f32[i] = static_cast<float>(r);
  }
  return o;
}

int64_t int_pow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : (base == -1 ? (e % 2 ? -1 : 1) : 0);
  int64_t r = 1;
  for (int64_t k = 0; k < e; ++k) r *= base;
  return r;
}

Tensor binary(const Ctx& c) {
  const std::string& t = c.op.type;
  const Tensor &a = c.x(0), &b = c.x(1);
  const Shape os = broadcast(a.shape, b.shape, c.where);
  const bool cmp = t == "Equal" || t == "Less" || t == "Greater";
  // Pow keeps the base's type; the others need matching types (ONNX), fp32 winning if they differ.
  const bool fl = t == "Pow" ? is_float(a) : (is_float(a) || is_float(b));
  Tensor o = make(c.out(), cmp ? DType::kBool : (fl ? DType::kFloat32 : a.dtype), os);
  const auto sa = strides_of(a.shape), sb = strides_of(b.shape);
  const bool int_math = !is_float(a) && !is_float(b);
  const bool fmod = c.op.attr_int("fmod", 0) != 0;
  if (t == "Mod" && !int_math && !fmod) throw Error(c.where, "Mod of floats needs fmod = 1 (ONNX)");
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    const int64_t ia = bcast_index(a.shape, sa, os, oi), ib = bcast_index(b.shape, sb, os, oi);
    if (int_math) {
      const int64_t x = a.i64[ia], y = b.i64[ib];
      int64_t r = 0;
      if (t == "Add") r = x + y;
      else if (t == "Sub") r = x - y;
      else if (t == "Mul") r = x * y;
      else if (t == "Div") {
        if (y == 0) throw Error(c.where, "integer division by zero");
        r = x / y;  // truncation, as onnxruntime
      } else if (t == "Pow") r = int_pow(x, y);
      else if (t == "Equal") r = x == y;
      else if (t == "Less") r = x < y;
      else if (t == "Greater") r = x > y;
      else if (t == "Max") r = std::max(x, y);
      else if (t == "Min") r = std::min(x, y);
      else if (t == "Mod") {
        if (y == 0) throw Error(c.where, "integer modulo by zero");
        r = x % y;  // fmod = 0 takes the divisor's sign, as Python's %
        if (!fmod && r != 0 && ((r < 0) != (y < 0))) r += y;
      }
      o.i64[i] = r;
      continue;
    }
    const double x = get(a, ia), y = get(b, ib);
    double r = 0;
    if (t == "Add") r = x + y;
    else if (t == "Sub") r = x - y;
    else if (t == "Mul") r = x * y;
    else if (t == "Div") r = x / y;
    else if (t == "Pow") r = std::pow(x, y);
    else if (t == "Equal") r = x == y;
    else if (t == "Less") r = x < y;
    else if (t == "Greater") r = x > y;
    else if (t == "Max") r = std::max(x, y);
    else if (t == "Min") r = std::min(x, y);
    else if (t == "Mod") r = std::fmod(x, y);
    if (is_float(o)) o.f32[i] = static_cast<float>(r);
    else o.i64[i] = static_cast<int64_t>(r);
  }
  return o;
}

// Max and Min take any number of inputs (ONNX): folded pairwise, left to right.
Tensor min_max(const Ctx& c) {
  if (c.in.size() < 2) return binary(c);
  Tensor acc = c.x(0);
  for (size_t i = 1; i < c.in.size(); ++i) {
    Ctx pair{c.g, c.op, {&acc, &c.x(i)}, c.where};
    acc = binary(pair);
  }
  return acc;
}

Tensor not_op(const Ctx& c) {
  const Tensor& x = c.x(0);
  Tensor o = make(c.out(), DType::kBool, x.shape);
  for (int64_t i = 0; i < o.numel(); ++i) o.i64[i] = get(x, i) == 0;
  return o;
}

// ScatterND without reduction: a copy of the data with the indexed slices replaced by the updates.
Tensor scatter_nd(const Ctx& c) {
  if (c.op.attr_string("reduction", "none") != "none") throw Error(c.where, "not supported yet: ScatterND reduction");
  const Tensor &data = c.x(0), &upd = c.x(2);
  const std::vector<int64_t> idx = ints_of(c.x(1));
  const Shape& is = c.x(1).shape;
  Tensor o = data;
  o.name = c.out();
  const size_t k = is.empty() ? 0 : static_cast<size_t>(is.back());
  if (k == 0 || k > data.shape.size()) throw Error(c.where, "index depth does not fit the data");
  int64_t slice = 1;
  for (size_t d = k; d < data.shape.size(); ++d) slice *= data.shape[d];
  const int64_t n = static_cast<int64_t>(idx.size() / k);
  if (upd.numel() != n * slice || upd.dtype != data.dtype) throw Error(c.where, "updates do not match the indices");
  for (int64_t j = 0; j < n; ++j) {
    int64_t off = 0;
    for (size_t d = 0; d < k; ++d) {
      int64_t i = idx[static_cast<size_t>(j) * k + d];
      if (i < 0) i += data.shape[d];
      if (i < 0 || i >= data.shape[d]) throw Error(c.where, "index " + std::to_string(i) + " out of range");
      off = off * data.shape[d] + i;
    }
    off *= slice;
    for (int64_t e = 0; e < slice; ++e) {
      if (is_float(o)) o.f32[off + e] = upd.f32[j * slice + e];
      else o.i64[off + e] = upd.i64[j * slice + e];
    }
  }
  return o;
}

Tensor where_op(const Ctx& c) {
  const Tensor &cond = c.x(0), &a = c.x(1), &b = c.x(2);
  if (is_float(a) != is_float(b)) throw Error(c.where, "Where branches have different types");
  const Shape os = broadcast(broadcast(cond.shape, a.shape, c.where), b.shape, c.where);
  Tensor o = make(c.out(), a.dtype, os);
  const auto sc = strides_of(cond.shape), sa = strides_of(a.shape), sb = strides_of(b.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    if (get(cond, bcast_index(cond.shape, sc, os, oi)) != 0) copy_el(o, i, a, bcast_index(a.shape, sa, os, oi));
    else copy_el(o, i, b, bcast_index(b.shape, sb, os, oi));
  }
  return o;
}

Tensor concat(const Ctx& c) {
  const Tensor& x0 = c.x(0);
  const int64_t rank = static_cast<int64_t>(x0.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), rank, c.where);
  Shape os = x0.shape;
  os[axis] = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& xi = c.x(i);
    if (is_float(xi) != is_float(x0)) throw Error(c.where, "inputs have different types");
    bool ok = static_cast<int64_t>(xi.shape.size()) == rank;
    for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || xi.shape[d] == x0.shape[d];
    if (!ok) throw Error(c.where, "input " + std::to_string(i) + " " + dims(xi.shape) + " does not concat with " + dims(x0.shape));
    os[axis] += xi.shape[axis];
  }
  Tensor o = make(c.out(), x0.dtype, os);
  const int64_t outer = count(Shape(os.begin(), os.begin() + axis));
  const int64_t row_out = outer ? count(os) / outer : 0;
  int64_t off = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& xi = c.x(i);
    const int64_t row = outer ? xi.numel() / outer : 0;
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < row; ++q) copy_el(o, p * row_out + off + q, xi, p * row + q);
    off += row;
  }
  return o;
}

std::vector<Tensor> split(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), c.where);
  const int64_t n = static_cast<int64_t>(c.op.outputs.size()), dim = x.shape[axis];
  std::vector<int64_t> sizes = c.ints("split", 1).value_or(std::vector<int64_t>{});
  if (sizes.empty()) {
    // Equal parts; with num_outputs (opset 18) the last may be smaller.
    const int64_t parts = c.op.attr_int("num_outputs", n);
    if (parts <= 0) throw Error(c.where, "no outputs");
    const int64_t each = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::max<int64_t>(0, std::min(each, dim - i * each)));
  }
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw Error(c.where, "negative split size");
    sum += s;
  }
  if (sum != dim || static_cast<int64_t>(sizes.size()) != n)
    throw Error(c.where, "split sizes do not cover dim " + std::to_string(dim) + " in " + std::to_string(n) + " outputs");
  const int64_t outer = count(Shape(x.shape.begin(), x.shape.begin() + axis));
  const int64_t unit = count(Shape(x.shape.begin() + axis + 1, x.shape.end()));
  const int64_t row_in = dim * unit;
  std::vector<Tensor> outs;
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    Shape s = x.shape;
    s[axis] = sizes[k];
    Tensor o = make(c.op.outputs[k], x.dtype, s);
    const int64_t row = sizes[k] * unit;
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < row; ++q) copy_el(o, p * row + q, x, p * row_in + off + q);
    off += row;
    outs.push_back(std::move(o));
  }
  return outs;
}

Tensor slice(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.op.has_attr("starts")) {  // opset < 10
    starts = c.op.attr_ints("starts");
    ends = c.op.attr_ints("ends");
    axes = c.op.attr_ints("axes");
  } else {
    starts = ints_of(c.x(1));
    ends = ints_of(c.x(2));
    if (c.has(3)) axes = ints_of(c.x(3));
    if (c.has(4)) steps = ints_of(c.x(4));
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw Error(c.where, "starts/ends/axes/steps differ in length");
  std::vector<int64_t> st(rank, 0), sp(rank, 1);
  Shape os = x.shape;
  std::set<int64_t> seen;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(axes[i], rank, c.where), dim = x.shape[a], step = steps[i];
    if (!seen.insert(a).second) throw Error(c.where, "axis repeated");
    if (step == 0) throw Error(c.where, "step 0");
    const graph::SliceRange r = graph::slice_range(dim, starts[i], ends[i], step);
    os[a] = r.count;
    st[a] = r.start;
    sp[a] = step;
  }
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  copy_by_index(o, x, os, [&](const std::vector<int64_t>& oi) {
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += (st[d] + oi[d] * sp[d]) * xs[d];
    return src;
  });
  return o;
}

Tensor pool(const Ctx& c) {
  const Tensor& x = c.f(0);
  const std::string& t = c.op.type;
  const bool global = t == "GlobalAveragePool" || t == "GlobalMaxPool";
  const bool is_max = t == "MaxPool" || t == "GlobalMaxPool";
  if (x.shape.size() < 3) throw Error(c.where, "pooling needs rank >= 3, got " + dims(x.shape));
  if (global) {
    Shape os = x.shape;
    std::fill(os.begin() + 2, os.end(), 1);
    Tensor o = make(c.out(), DType::kFloat32, os);
    const int64_t planes = x.shape[0] * x.shape[1], size = planes ? x.numel() / planes : 0;
    if (is_max) kernels::ref_global_max_pool(planes, size, x.f32.data(), o.f32.data());
    else kernels::ref_global_avg_pool(planes, size, x.f32.data(), o.f32.data());
    return o;
  }
  const size_t rank = x.shape.size();
  if (rank != 3 && rank != 4) throw Error(c.where, "the reference runs 1-D and 2-D pooling only");
  if (c.op.outputs.size() > 1 && !c.op.outputs[1].empty()) throw Error(c.where, "MaxPool indices output is not supported");
  const bool one_d = rank == 3;
  const Shape spatial(x.shape.begin() + 2, x.shape.end());
  const Window win = window(c, spatial, c.op.attr_ints("kernel_shape"));
  const size_t d0 = one_d ? 0 : 1;
  kernels::PoolShape s;
  s.n = x.shape[0];
  s.c = x.shape[1];
  s.h = one_d ? 1 : x.shape[2];
  s.w = x.shape.back();
  s.kh = one_d ? 1 : win.kernel[0];
  s.kw = win.kernel[d0];
  set_window_2d(s, win, one_d);
  s.ceil_mode = c.op.attr_int("ceil_mode", 0) != 0;
  s.count_include_pad = c.op.attr_int("count_include_pad", 0) != 0;
  if (s.out_h() <= 0 || s.out_w() <= 0) throw Error(c.where, "the window does not fit the input " + dims(x.shape));
  Shape os = {s.n, s.c};
  if (!one_d) os.push_back(s.out_h());
  os.push_back(s.out_w());
  Tensor o = make(c.out(), DType::kFloat32, os);
  if (is_max) kernels::ref_max_pool2d(s, x.f32.data(), o.f32.data());
  else kernels::ref_avg_pool2d(s, x.f32.data(), o.f32.data());
  return o;
}

// ReduceMean / ReduceSum / ReduceMax, accumulated in double.
Tensor reduce(const Ctx& c) {
  const std::string& t = c.op.type;
  const bool is_max = t == "ReduceMax";
  const Tensor& x = c.f(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const std::vector<int64_t> axes = c.ints("axes", 1).value_or(std::vector<int64_t>{});
  std::set<int64_t> ax;
  for (int64_t a : axes) ax.insert(norm_axis(a, rank, c.where));
  if (axes.empty()) {
    if (c.op.attr_int("noop_with_empty_axes", 0) != 0) {
      Tensor o = x;
      o.name = c.out();
      return o;
    }
    for (int64_t d = 0; d < rank; ++d) ax.insert(d);
  }
  const bool keep = c.op.attr_int("keepdims", 1) != 0;
  Shape ks = x.shape;
  for (int64_t a : ax) ks[a] = 1;
  Tensor o = make(c.out(), DType::kFloat32, ks);
  std::vector<double> acc(o.f32.size(), is_max ? -INFINITY : 0.0);
  const auto ost = strides_of(ks);
  std::vector<int64_t> xi;
  for (int64_t i = 0; i < x.numel(); ++i) {
    unravel(i, x.shape, xi);
    int64_t oi = 0;
    for (int64_t d = 0; d < rank; ++d) oi += (ax.count(d) ? 0 : xi[d]) * ost[d];
    acc[oi] = is_max ? std::max(acc[oi], static_cast<double>(x.f32[i])) : acc[oi] + x.f32[i];
  }
  const int64_t cnt = o.numel() ? x.numel() / o.numel() : 0;
  for (size_t i = 0; i < acc.size(); ++i)
    o.f32[i] = static_cast<float>(t != "ReduceMean" ? acc[i] : cnt ? acc[i] / cnt : std::nan(""));
  if (!keep) {
    Shape s;
    for (int64_t d = 0; d < rank; ++d)
      if (!ax.count(d)) s.push_back(x.shape[d]);
    o.shape = s;
  }
  return o;
}

// LayerNormalization (opset 17): each row of the trailing dims from `axis` normalised in double, then
// scale and bias broadcast over that row; the optional Mean and InvStdDev outputs as ONNX defines them.
std::vector<Tensor> layer_norm(const Ctx& c) {
  const Tensor& x = c.f(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", -1), rank, c.where);
  const Shape row_shape(x.shape.begin() + axis, x.shape.end());
  const int64_t width = count(row_shape), rows = width ? x.numel() / width : 0;
  const double eps = c.op.attr_float("epsilon", 1e-5f);
  const Tensor& scale = c.f(1);
  const Tensor* bias = c.has(2) ? &c.f(2) : nullptr;
  // Scale / bias broadcast against one row (numpy rules, right-aligned).
  auto at = [&](const Tensor& p, int64_t k) {
    int64_t off = 0, mul = 1, rem = k;
    for (size_t d = row_shape.size(), pd = p.shape.size(); d-- > 0;) {
      const int64_t idx = rem % row_shape[d];
      rem /= row_shape[d];
      if (pd == 0) continue;
      --pd;
      if (p.shape[pd] != 1 && p.shape[pd] != row_shape[d]) throw Error(c.where, "scale/bias do not broadcast to " + dims(row_shape));
      if (p.shape[pd] != 1) off += idx * mul;
      mul *= p.shape[pd];
    }
    return static_cast<double>(p.f32[off]);
  };
  Tensor o = make(c.out(), DType::kFloat32, x.shape);
  Shape stat_shape = x.shape;
  for (int64_t d = axis; d < rank; ++d) stat_shape[d] = 1;
  Tensor mean_t = make(c.op.outputs.size() > 1 ? c.op.outputs[1] : "", DType::kFloat32, stat_shape);
  Tensor inv_t = make(c.op.outputs.size() > 2 ? c.op.outputs[2] : "", DType::kFloat32, stat_shape);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.f32.data() + r * width;
    double m = 0, v = 0;
    for (int64_t k = 0; k < width; ++k) m += xr[k];
    m /= width;
    for (int64_t k = 0; k < width; ++k) v += (xr[k] - m) * (xr[k] - m);
    v /= width;
    const double inv = 1.0 / std::sqrt(v + eps);
    for (int64_t k = 0; k < width; ++k)
      o.f32[r * width + k] = static_cast<float>((xr[k] - m) * inv * at(scale, k) + (bias ? at(*bias, k) : 0.0));
    mean_t.f32[r] = static_cast<float>(m);
    inv_t.f32[r] = static_cast<float>(inv);
  }
  std::vector<Tensor> r{std::move(o)};
  if (c.op.outputs.size() > 1) r.push_back(std::move(mean_t));
  if (c.op.outputs.size() > 2) r.push_back(std::move(inv_t));
  return r;
}

Tensor resize(const Ctx& c) {
  const Tensor& x = c.f(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<double> scales;
  Shape os;
  const bool upsample = c.op.type == "Upsample";
  // Upsample and Resize-10 take scales as input 1; Resize-11+ as input 2 with sizes as input 3.
  const bool old = upsample || c.opset() < 11;
  const Tensor* sc = nullptr;
  if (old) {
    if (c.op.has_attr("scales")) {
      for (float v : c.op.attr_floats("scales")) scales.push_back(v);
    } else {
      sc = &c.f(1);
    }
  } else if (c.has(3) && c.x(3).numel() > 0) {
    os = ints_of(c.x(3));
    if (static_cast<int64_t>(os.size()) != rank) throw Error(c.where, "sizes have the wrong rank");
    for (int64_t d = 0; d < rank; ++d) {
      if (os[d] <= 0 || x.shape[d] <= 0) throw Error(c.where, "sizes must be positive");
      scales.push_back(static_cast<double>(os[d]) / x.shape[d]);
    }
  } else if (c.has(2) && c.x(2).numel() > 0) {
    sc = &c.f(2);
  } else {
    throw Error(c.where, "Resize needs scales or sizes");
  }
  if (sc)
    for (int64_t i = 0; i < sc->numel(); ++i) scales.push_back(sc->f32[i]);
  if (static_cast<int64_t>(scales.size()) != rank) throw Error(c.where, "scales have the wrong rank");
  if (os.empty())
    for (int64_t d = 0; d < rank; ++d) {
      if (!(scales[d] > 0)) throw Error(c.where, "scales must be positive");
      os.push_back(static_cast<int64_t>(std::floor(x.shape[d] * scales[d])));
    }
  for (int64_t d = 0; d < rank; ++d)
    if (os[d] <= 0 || x.shape[d] <= 0) throw Error(c.where, "empty output " + dims(os));
  std::string mode = c.op.attr_string("mode", "nearest");
  if (mode == "bilinear") mode = "linear";  // Upsample-7 spelling
  const std::string coord = old ? "asymmetric" : c.op.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = old ? "floor" : c.op.attr_string("nearest_mode", "round_prefer_floor");
  Tensor out = make(c.out(), DType::kFloat32, os);
  try {
    kernels::ref_resize(x.shape, os, scales, mode, coord, nearest, x.f32.data(), out.f32.data());
  } catch (const Error& e) {
    throw Error(c.where, e.detail());
  }
  return out;
}

Tensor relabel(const Ctx& c, Shape os) {
  const Tensor& x = c.x(0);
  if (count(os) != x.numel()) throw Error(c.where, "cannot reshape " + dims(x.shape) + " to " + dims(os));
  Tensor o = x;
  o.name = c.out();
  o.shape = std::move(os);
  return o;
}

Tensor reshape(const Ctx& c) {
  const Tensor& x = c.x(0);
  std::vector<int64_t> want = c.ints("shape", 1).value_or(std::vector<int64_t>{});
  if (!c.op.has_attr("shape") && !c.has(1)) throw Error(c.where, "Reshape without a shape");
  Shape os(want.size());
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == 0) {  // copies the input dim (allowzero is not supported)
      if (i >= x.shape.size()) throw Error(c.where, "0 in shape beyond the input rank");
      os[i] = x.shape[i];
    } else if (want[i] == -1) {
      if (infer >= 0) throw Error(c.where, "more than one -1 in shape");
      infer = static_cast<int64_t>(i);
      continue;
    } else if (want[i] < 0) {
      throw Error(c.where, "negative dim in shape");
    } else {
      os[i] = want[i];
    }
    known *= os[i];
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known) throw Error(c.where, "cannot infer -1 reshaping " + dims(x.shape));
    os[infer] = x.numel() / known;
  }
  return relabel(c, os);
}

Tensor flatten(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = c.op.attr_int("axis", 1);
  if (axis < -rank || axis > rank) throw Error(c.where, "axis out of range");
  if (axis < 0) axis += rank;
  return relabel(c, {count(Shape(x.shape.begin(), x.shape.begin() + axis)), count(Shape(x.shape.begin() + axis, x.shape.end()))});
}

Tensor squeeze(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const auto axes = c.ints("axes", 1);
  std::set<int64_t> ax;
  if (axes && !axes->empty()) {
    for (int64_t a : *axes) {
      const int64_t d = norm_axis(a, rank, c.where);
      if (x.shape[d] != 1) throw Error(c.where, "cannot squeeze dim " + std::to_string(d) + " of " + dims(x.shape));
      ax.insert(d);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      if (x.shape[d] == 1) ax.insert(d);
  }
  Shape os;
  for (int64_t d = 0; d < rank; ++d)
    if (!ax.count(d)) os.push_back(x.shape[d]);
  return relabel(c, os);
}

Tensor unsqueeze(const Ctx& c) {
  const Tensor& x = c.x(0);
  const auto axes = c.ints("axes", 1);
  if (!axes) throw Error(c.where, "Unsqueeze without axes");
  const int64_t rank = static_cast<int64_t>(x.shape.size() + axes->size());
  std::set<int64_t> ax;
  for (int64_t a : *axes)
    if (!ax.insert(norm_axis(a, rank, c.where)).second) throw Error(c.where, "axis repeated");
  Shape os;
  size_t k = 0;
  for (int64_t d = 0; d < rank; ++d) os.push_back(ax.count(d) ? 1 : x.shape[k++]);
  return relabel(c, os);
}

Tensor transpose(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm = c.op.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i)
    if (sorted[i] != i || static_cast<int64_t>(sorted.size()) != rank) throw Error(c.where, "perm is not a permutation of the input dims");
  Shape os;
  for (int64_t p : perm) os.push_back(x.shape[p]);
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  copy_by_index(o, x, os, [&](const std::vector<int64_t>& oi) {
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += oi[d] * xs[perm[d]];
    return src;
  });
  return o;
}

Tensor pad(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> pads = c.ints("pads", 1).value_or(std::vector<int64_t>{});
  if (c.has(3)) {  // opset 18 axes: pads cover only these
    const auto axes = ints_of(c.x(3));
    if (pads.size() != 2 * axes.size()) throw Error(c.where, "pads do not match axes");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = norm_axis(axes[i], rank, c.where);
      full[a] = pads[i];
      full[a + rank] = pads[i + axes.size()];
    }
    pads = full;
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank) throw Error(c.where, "pads has " + std::to_string(pads.size()) + " values for rank " + std::to_string(rank));
  double value = c.op.attr_float("value", 0.0f);
  if (c.has(2) && c.x(2).numel() > 0) value = get(c.x(2), 0);
  const std::string mode = c.op.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") throw Error(c.where, "Pad mode '" + mode + "' is not supported");
  Shape os = x.shape;
  for (int64_t d = 0; d < rank; ++d) {
    os[d] += pads[d] + pads[d + rank];
    if (os[d] < 0) throw Error(c.where, "pads remove more than the input");
    if (mode != "constant" && x.shape[d] == 0 && os[d] > 0) throw Error(c.where, "cannot " + mode + "-pad an empty dim");
    if (mode == "reflect" && (pads[d] >= x.shape[d] || pads[d + rank] >= x.shape[d]) && x.shape[d] > 1)
      throw Error(c.where, "reflect pads must be smaller than the dim");
  }
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    int64_t src = 0;
    bool outside = false;
    for (int64_t d = 0; d < rank && !outside; ++d) {
      int64_t v = oi[d] - pads[d];
      const int64_t n = x.shape[d];
      if (v < 0 || v >= n) {
        if (mode == "constant") outside = true;
        else if (mode == "edge" || n == 1) v = std::clamp<int64_t>(v, 0, n - 1);
        else v = v < 0 ? -v : 2 * (n - 1) - v;  // reflect, pads < n checked above
      }
      src += v * xs[d];
    }
    if (outside) set(o, i, value);
    else copy_el(o, i, x, src);
  }
  return o;
}

Tensor softmax(const Ctx& c) {
  const Tensor& x = c.f(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", c.opset() >= 13 ? -1 : 1), rank, c.where);
  Tensor o = make(c.out(), DType::kFloat32, x.shape);
  const int64_t outer = count(Shape(x.shape.begin(), x.shape.begin() + axis));
  if (c.opset() < 13) {  // coerced to 2-D [outer, rest] at axis
    kernels::ref_softmax(outer, count(Shape(x.shape.begin() + axis, x.shape.end())), 1, x.f32.data(), o.f32.data());
  } else {
    kernels::ref_softmax(outer, x.shape[axis], count(Shape(x.shape.begin() + axis + 1, x.shape.end())), x.f32.data(), o.f32.data());
  }
  return o;
}

Tensor gather(const Ctx& c) {
  const Tensor &x = c.x(0), &ind = c.x(1);
  if (is_float(ind)) throw Error(c.where, "indices must be integers");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), rank, c.where);
  Shape os(x.shape.begin(), x.shape.begin() + axis);
  os.insert(os.end(), ind.shape.begin(), ind.shape.end());
  os.insert(os.end(), x.shape.begin() + axis + 1, x.shape.end());
  Tensor o = make(c.out(), x.dtype, os);
  const int64_t outer = count(Shape(x.shape.begin(), x.shape.begin() + axis));
  const int64_t inner = count(Shape(x.shape.begin() + axis + 1, x.shape.end()));
  const int64_t dim = x.shape[axis], ni = ind.numel();
  for (int64_t j = 0; j < ni; ++j) {
    const int64_t k = ind.i64[j] < 0 ? ind.i64[j] + dim : ind.i64[j];
    if (k < 0 || k >= dim) throw Error(c.where, "index " + std::to_string(ind.i64[j]) + " out of range for dim " + std::to_string(dim));
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < inner; ++q) copy_el(o, (p * ni + j) * inner + q, x, (p * dim + k) * inner + q);
  }
  return o;
}

Tensor constant(const Ctx& c) {
  Tensor o;
  if (const Tensor* v = c.op.attr_tensor("value")) {
    o = *v;
  } else if (c.op.has_attr("value_float")) {
    o = make("", DType::kFloat32, {});
    o.f32 = {c.op.attr_float("value_float", 0)};
  } else if (c.op.has_attr("value_int")) {
    o = make("", DType::kInt64, {});
    o.i64 = {c.op.attr_int("value_int", 0)};
  } else if (c.op.has_attr("value_floats")) {
    o = make("", DType::kFloat32, {});
    o.f32 = c.op.attr_floats("value_floats");
    o.shape = {static_cast<int64_t>(o.f32.size())};
  } else if (c.op.has_attr("value_ints")) {
    o = make("", DType::kInt64, {});
    o.i64 = c.op.attr_ints("value_ints");
    o.shape = {static_cast<int64_t>(o.i64.size())};
  } else {
    throw Error(c.where, "Constant without a supported value");
  }
  check_tensor(o, c.where, "value");
  o.name = c.out();
  return o;
}

Tensor shape_op(const Ctx& c) {
  const Shape& s = c.x(0).shape;
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t st = c.op.attr_int("start", 0), en = c.op.attr_int("end", r);
  if (st < 0) st += r;
  if (en < 0) en += r;
  st = std::clamp<int64_t>(st, 0, r);
  en = std::clamp<int64_t>(en, 0, r);
  Tensor o = make(c.out(), DType::kInt64, {std::max<int64_t>(0, en - st)});
  for (int64_t i = st; i < en; ++i) o.i64[i - st] = s[i];
  return o;
}

Tensor cast(const Ctx& c) {
  const int64_t to = c.op.attr_int("to", 1);
  const DType d = to == 1 ? DType::kFloat32 : to == 6 ? DType::kInt32 : to == 7 ? DType::kInt64 : to == 9 ? DType::kBool : DType::kUnknown;
  if (d == DType::kUnknown) throw Error(c.where, "Cast to type " + std::to_string(to) + " is not supported");
  const Tensor& x = c.x(0);
  Tensor o = make(c.out(), d, x.shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (d == DType::kFloat32) o.f32[i] = static_cast<float>(get(x, i));
    else if (d == DType::kBool) o.i64[i] = get(x, i) != 0;
    else if (!is_float(x)) o.i64[i] = d == DType::kInt32 ? static_cast<int32_t>(x.i64[i]) : x.i64[i];
    else {
      const double v = std::trunc(static_cast<double>(x.f32[i]));
      // Out-of-range float to int is undefined in C++; saturate instead.
      const double lim = d == DType::kInt32 ? 2147483647.0 : 9.2e18;
      o.i64[i] = std::isnan(v) ? 0 : static_cast<int64_t>(std::clamp(v, -lim - 1, lim));
    }
  }
  return o;
}

Tensor constant_of_shape(const Ctx& c) {
  DType d = DType::kFloat32;
  float fv = 0.0f;
  int64_t iv = 0;
  if (const Tensor* val = c.op.attr_tensor("value")) {
    check_tensor(*val, c.where, "value");
    if (val->numel() != 1) throw Error(c.where, "value must hold one element");
    d = val->dtype;
    if (is_float(*val)) fv = val->f32[0];
    else iv = val->i64[0];
  }
  const Shape s = ints_of(c.x(0));
  for (int64_t v : s)
    if (v < 0) throw Error(c.where, "negative dim in " + dims(s));
  Tensor o = make(c.out(), d, s);
  if (d == DType::kFloat32) std::fill(o.f32.begin(), o.f32.end(), fv);
  else std::fill(o.i64.begin(), o.i64.end(), iv);
  return o;
}

Tensor expand(const Ctx& c) {
  const Tensor& x = c.x(0);
  const Shape os = broadcast(x.shape, ints_of(c.x(1)), c.where);
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    copy_el(o, i, x, bcast_index(x.shape, xs, os, oi));
  }
  return o;
}

Tensor range(const Ctx& c) {
  for (size_t i = 0; i < 3; ++i) c.need_count(c.x(i), 1, "input " + std::to_string(i));
  const Tensor& s = c.x(0);
  Tensor o;
  if (is_float(s)) {
    const double s0 = s.f32[0], lim = get(c.x(1), 0), d = get(c.x(2), 0);
    if (d == 0) throw Error(c.where, "Range delta 0");
    const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((lim - s0) / d)));
    o = make(c.out(), DType::kFloat32, {n});
    for (int64_t i = 0; i < n; ++i) o.f32[i] = static_cast<float>(s0 + d * i);
  } else {
    const int64_t s0 = s.i64[0], lim = ints_of(c.x(1))[0], d = ints_of(c.x(2))[0];
    if (d == 0) throw Error(c.where, "Range delta 0");
    const int64_t span = lim - s0;
    const int64_t n = std::max<int64_t>(0, d > 0 ? (span + d - 1) / d : (span + d + 1) / d);
    o = make(c.out(), s.dtype, {n});
    for (int64_t i = 0; i < n; ++i) o.i64[i] = s0 + d * i;
  }
  return o;
}

std::vector<Tensor> dropout(const Ctx& c) {
  std::vector<Tensor> r{unary(c)};
  if (c.op.outputs.size() > 1 && !c.op.outputs[1].empty()) {
    Tensor m = make(c.out(1), DType::kBool, r[0].shape);
    std::fill(m.i64.begin(), m.i64.end(), 1);
    r.push_back(std::move(m));
  }
  return r;
}

using RefFn = std::vector<Tensor> (*)(const Ctx&);

template <Tensor (*F)(const Ctx&)>
std::vector<Tensor> one(const Ctx& c) {
  return {F(c)};
}

// Keyed by the op registry's names; a test checks that the two hold the same ops.
const std::map<std::string, RefFn>& reference_table() {
  static const std::map<std::string, RefFn> table = [] {
    std::map<std::string, RefFn> m = {
        {"Conv", one<conv>},         {"Gemm", one<gemm>},       {"MatMul", one<matmul>},
        {"BatchNormalization", one<batchnorm>},                 {"Dropout", dropout},
        {"Where", one<where_op>},    {"Concat", one<concat>},   {"Split", split},
        {"Slice", one<slice>},       {"LayerNormalization", layer_norm},
        {"Flatten", one<flatten>},   {"Reshape", one<reshape>}, {"Squeeze", one<squeeze>},
        {"Unsqueeze", one<unsqueeze>}, {"Transpose", one<transpose>}, {"Pad", one<pad>},
        {"Softmax", one<softmax>},   {"Gather", one<gather>},   {"Constant", one<constant>},
        {"Shape", one<shape_op>},    {"Cast", one<cast>},       {"ConstantOfShape", one<constant_of_shape>},
        {"Expand", one<expand>},     {"Range", one<range>},     {"Not", one<not_op>},
        {"Max", one<min_max>},       {"Min", one<min_max>},
        {"ScatterND", one<scatter_nd>}};
    for (const char* t : {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Exp", "Sqrt",
                          "Neg", "Identity", "Erf", "Abs", "Gelu"})
      m[t] = one<unary>;
    for (const char* t : {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "Mod"})
      m[t] = one<binary>;
    for (const char* t : {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}) m[t] = one<pool>;
    for (const char* t : {"ReduceMean", "ReduceSum", "ReduceMax"}) m[t] = one<reduce>;
    for (const char* t : {"Resize", "Upsample"}) m[t] = one<resize>;
    return m;
  }();
  return table;
}

std::vector<Tensor> run_op(const Ctx& c) {
  const std::string& t = c.op.type;
  if (c.op.unknown) throw Error(c.where, "op type '" + t + "' has no reference implementation (imported as unknown)");
  const auto& table = reference_table();
  auto it = table.find(t);
  if (it == table.end()) throw Error(c.where, "op type '" + t + "' has no reference implementation");
  return it->second(c);
}

}  // namespace

std::vector<std::string> reference_op_types() {
  std::vector<std::string> v;
  for (const auto& [type, fn] : reference_table()) v.push_back(type);
  return v;
}

TensorMap run_reference(const graph::Graph& g, const TensorMap& inputs) {
  std::map<std::string, Tensor> live;
  for (const auto& in : g.inputs()) {
    if (g.is_constant(in)) continue;
    auto it = inputs.find(in);
    if (it == inputs.end()) throw Error("graph input '" + in + "'", "no value given");
    check_tensor(it->second, "graph input '" + in + "'", "the value");
    live[in] = it->second;
  }
  const auto order = g.topological_order();
  // Last reader of each tensor, to free intermediates early (big models must fit).
  std::map<std::string, size_t> last;
  for (size_t k = 0; k < order.size(); ++k)
    for (const auto& in : g.op(order[k]).inputs) last[in] = k;
  const std::set<std::string> outs(g.outputs().begin(), g.outputs().end());
  for (size_t k = 0; k < order.size(); ++k) {
    const Op& op = g.op(order[k]);
    Ctx c{g, op, {}, "node '" + op.name + "' (" + op.type + ")"};
    for (const auto& in : op.inputs) {
      if (in.empty()) {
        c.in.push_back(nullptr);
        continue;
      }
      const Tensor* t = nullptr;
      auto it = live.find(in);
      if (it != live.end()) t = &it->second;
      else if ((t = g.constant(in))) check_tensor(*t, c.where, "constant '" + in + "'");
      if (!t) throw Error(c.where, "input '" + in + "' has no value");
      c.in.push_back(t);
    }
    std::vector<Tensor> results;
    try {
      results = run_op(c);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {  // e.g. a bad attribute type or an allocation failure
      throw Error(c.where, e.what());
    }
    if (op.fused.kind != graph::Activation::kNone && !results.empty()) {
      if (!is_float(results[0])) throw Error(c.where, "fused activation on a non-float output");
      kernels::ref_activation_inplace(epilogue_of(op.fused), results[0].f32.data(), results[0].numel());
    }
    for (size_t i = 0; i < results.size() && i < op.outputs.size(); ++i) {
      if (op.outputs[i].empty()) continue;
      results[i].name = op.outputs[i];
      live[op.outputs[i]] = std::move(results[i]);
    }
    for (const auto& in : op.inputs) {
      auto l = last.find(in);
      if (l != last.end() && l->second == k && !outs.count(in)) live.erase(in);
    }
  }
  TensorMap r;
  for (const auto& o : g.outputs()) {
    auto it = live.find(o);
    if (it != live.end()) {
      r[o] = it->second;
    } else if (const Tensor* t = g.constant(o)) {
      r[o] = *t;
    } else {
      throw Error("graph output '" + o + "'", "was not computed");
    }
  }
  return r;
}

TensorMap random_inputs(const graph::Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  TensorMap m;
  for (const auto& in : g.inputs()) {
    if (g.is_constant(in)) continue;
    const std::string where = "graph input '" + in + "'";
    const graph::TensorInfo* t = g.tensor_info(in);
    if (!t || !t->known) throw Error(where, "shape unknown; give it with --input-shape");
    for (int64_t d : t->shape)
      if (d <= 0) throw Error(where, "has a non-positive dim " + dims(t->shape));
    if (t->dtype != DType::kFloat32) throw Error(where, "random inputs are float32 only");
    Tensor x = make(in, DType::kFloat32, t->shape);
    for (float& v : x.f32) v = u(rng);
    m[in] = std::move(x);
  }
  return m;
}

double max_rel_error(const Tensor& a, const Tensor& b, double floor) {
  const double inf = std::numeric_limits<double>::infinity();
  if (a.shape != b.shape) return inf;
  const int64_t n = count(b.shape);
  const auto size = [](const Tensor& t) { return static_cast<int64_t>(is_float(t) ? t.f32.size() : t.i64.size()); };
  if (size(a) != n || size(b) != n) return inf;
  double max_ref = floor, max_diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = get(a, i), y = get(b, i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return inf;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return inf;
      continue;
    }
    max_diff = std::max(max_diff, std::fabs(x - y));
    max_ref = std::max(max_ref, std::fabs(y));
  }
  return max_diff / max_ref;
}

}  // namespace hilsim::runtime
