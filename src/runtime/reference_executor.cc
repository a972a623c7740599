#include "hilsim/runtime/reference_executor.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>

#include "hilsim/graph/shape_inference.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

using graph::DType;
using graph::Op;
using graph::Shape;
using graph::Tensor;

namespace {

// ---- helpers over flat tensors -------------------------------------------------------------------

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

void unravel(int64_t flat, const Shape& s, std::vector<int64_t>& idx) {
  idx.resize(s.size());
  for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
    idx[d] = s[d] ? flat % s[d] : 0;
    if (s[d]) flat /= s[d];
  }
}

bool is_float(const Tensor& t) { return t.dtype == DType::kFloat32; }
double get(const Tensor& t, int64_t i) { return is_float(t) ? t.f32[i] : static_cast<double>(t.i64[i]); }

Tensor make(const std::string& name, DType d, Shape s) {
  Tensor t;
  t.name = name;
  t.dtype = d;
  t.shape = std::move(s);
  const size_t n = static_cast<size_t>(std::max<int64_t>(0, graph::numel(t.shape)));
  if (d == DType::kFloat32) t.f32.assign(n, 0.0f);
  else t.i64.assign(n, 0);
  return t;
}

void set(Tensor& t, int64_t i, double v) {
  if (is_float(t)) t.f32[i] = static_cast<float>(v);
  else t.i64[i] = static_cast<int64_t>(v);
}

int64_t norm_axis(int64_t a, int64_t rank, const std::string& where) {
  if (a < -rank || a >= std::max<int64_t>(rank, 1)) throw Error(where, "axis " + std::to_string(a) + " out of range");
  return a < 0 ? a + rank : a;
}

std::vector<int64_t> ints_of(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<int64_t>(get(t, i)));
  return v;
}

// Index of a broadcast operand for output multi-index `oi`.
int64_t bcast_index(const Shape& in, const std::vector<int64_t>& in_strides, const Shape& out,
                    const std::vector<int64_t>& oi) {
  int64_t idx = 0;
  const size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) idx += (in[d] == 1 ? 0 : oi[d + off]) * in_strides[d];
  return idx;
}

float act(const graph::FusedActivation& f, float x) {
  switch (f.kind) {
    case graph::Activation::kNone: return x;
    case graph::Activation::kRelu: return x > 0 ? x : 0.0f;
    case graph::Activation::kClip: return std::min(std::max(x, f.min), f.max);
    case graph::Activation::kSigmoid: return 1.0f / (1.0f + std::exp(-x));
    case graph::Activation::kSiLU: return x / (1.0f + std::exp(-x));
    case graph::Activation::kHardSwish: return x * std::min(1.0f, std::max(0.0f, x / 6.0f + 0.5f));
    case graph::Activation::kHardSigmoid: return std::min(1.0f, std::max(0.0f, f.alpha * x + f.beta));
  }
  return x;
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
  bool has(size_t i) const { return i < in.size() && in[i]; }
  const std::string& out(size_t i = 0) const { return op.outputs.at(i); }
};

Tensor conv(const Ctx& c) {
  const Tensor &x = c.x(0), &w = c.x(1);
  if (x.shape.size() != 4 || w.shape.size() != 4) throw Error(c.where, "the reference runs 2-D convolutions only");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t F = w.shape[0], CG = w.shape[1], KH = w.shape[2], KW = w.shape[3];
  const int64_t G = c.op.attr_int("group", 1);
  if (G <= 0 || C != CG * G || F % G) throw Error(c.where, "channels do not match weights " + graph::shape_str(w.shape));
  auto st = c.op.attr_ints("strides", {1, 1}), dl = c.op.attr_ints("dilations", {1, 1});
  auto pads = c.op.attr_ints("pads", {0, 0, 0, 0});
  const std::string ap = c.op.attr_string("auto_pad", "NOTSET");
  int64_t OH, OW, pt = pads[0], pl = pads[1];
  auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t* out, int64_t* lo) {
    *out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (*out - 1) * s + (k - 1) * d + 1 - in);
    *lo = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
  };
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    same(H, KH, st[0], dl[0], &OH, &pt);
    same(W, KW, st[1], dl[1], &OW, &pl);
  } else if (ap == "VALID") {
    pt = pl = 0;
    OH = (H - dl[0] * (KH - 1) - 1) / st[0] + 1;
    OW = (W - dl[1] * (KW - 1) - 1) / st[1] + 1;
  } else {
    OH = (H + pads[0] + pads[2] - dl[0] * (KH - 1) - 1) / st[0] + 1;
    OW = (W + pads[1] + pads[3] - dl[1] * (KW - 1) - 1) / st[1] + 1;
  }
  const Tensor* b = c.has(2) ? &c.x(2) : nullptr;
  Tensor o = make(c.out(), DType::kFloat32, {N, F, OH, OW});
  const int64_t FG = F / G;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      const int64_t g0 = (f / FG) * CG;
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = b ? b->f32[f] : 0.0;
          for (int64_t ci = 0; ci < CG; ++ci)
            for (int64_t ky = 0; ky < KH; ++ky) {
              const int64_t iy = oy * st[0] - pt + ky * dl[0];
              if (iy < 0 || iy >= H) continue;
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t ix = ox * st[1] - pl + kx * dl[1];
                if (ix < 0 || ix >= W) continue;
                acc += static_cast<double>(x.f32[((n * C + g0 + ci) * H + iy) * W + ix]) *
                       w.f32[((f * CG + ci) * KH + ky) * KW + kx];
              }
            }
          o.f32[((n * F + f) * OH + oy) * OW + ox] = static_cast<float>(acc);
        }
    }
  return o;
}

Tensor gemm(const Ctx& c) {
  const Tensor &a = c.x(0), &b = c.x(1);
  const bool ta = c.op.attr_int("transA", 0), tb = c.op.attr_int("transB", 0);
  const float alpha = c.op.attr_float("alpha", 1.0f), beta = c.op.attr_float("beta", 1.0f);
  if (a.shape.size() != 2 || b.shape.size() != 2) throw Error(c.where, "Gemm needs 2-D inputs");
  const int64_t M = ta ? a.shape[1] : a.shape[0], K = ta ? a.shape[0] : a.shape[1];
  const int64_t N = tb ? b.shape[0] : b.shape[1];
  if ((tb ? b.shape[1] : b.shape[0]) != K) throw Error(c.where, "inner dims differ");
  Tensor o = make(c.out(), DType::kFloat32, {M, N});
  const Tensor* cc = c.has(2) ? &c.x(2) : nullptr;
  std::vector<int64_t> cst;
  if (cc) {
    graph::broadcast_shapes({M, N}, cc->shape, c.where);
    cst = strides_of(cc->shape);
  }
  std::vector<int64_t> oi(2);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(ta ? a.f32[k * M + i] : a.f32[i * K + k]) * (tb ? b.f32[j * K + k] : b.f32[k * N + j]);
      acc *= alpha;
      if (cc) {
        oi[0] = i;
        oi[1] = j;
        acc += beta * cc->f32[bcast_index(cc->shape, cst, {M, N}, oi)];
      }
      o.f32[i * N + j] = static_cast<float>(acc);
    }
  return o;
}

Tensor matmul(const Ctx& c) {
  Tensor a = c.x(0), b = c.x(1);
  const bool va = a.shape.size() == 1, vb = b.shape.size() == 1;
  if (va) a.shape.insert(a.shape.begin(), 1);
  if (vb) b.shape.push_back(1);
  const int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  if (b.shape[b.shape.size() - 2] != K) throw Error(c.where, "inner dims differ");
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch = graph::broadcast_shapes(ba, bb, c.where);
  Shape os = batch;
  os.push_back(M);
  os.push_back(N);
  Tensor o = make(c.out(), DType::kFloat32, os);
  const auto sa = strides_of(ba), sb = strides_of(bb);
  std::vector<int64_t> bi;
  const int64_t nb = std::max<int64_t>(1, graph::numel(batch));
  for (int64_t p = 0; p < nb; ++p) {
    unravel(p, batch, bi);
    const int64_t ia = ba.empty() ? 0 : bcast_index(ba, sa, batch, bi), ib = bb.empty() ? 0 : bcast_index(bb, sb, batch, bi);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<double>(a.f32[(ia * M + i) * K + k]) * b.f32[(ib * K + k) * N + j];
        o.f32[(p * M + i) * N + j] = static_cast<float>(acc);
      }
  }
  Shape fin = batch;
  if (!va) fin.push_back(M);
  if (!vb) fin.push_back(N);
  o.shape = fin;
  return o;
}

Tensor batchnorm(const Ctx& c) {
  const Tensor& x = c.x(0);
  const Tensor &sc = c.x(1), &bi = c.x(2), &mu = c.x(3), &va = c.x(4);
  const float eps = c.op.attr_float("epsilon", 1e-5f);
  Tensor o = make(c.out(), DType::kFloat32, x.shape);
  const int64_t C = x.shape.at(1), inner = x.numel() / std::max<int64_t>(1, x.shape[0] * C);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = (i / inner) % C;
    o.f32[i] = static_cast<float>((x.f32[i] - mu.f32[ch]) / std::sqrt(static_cast<double>(va.f32[ch]) + eps) * sc.f32[ch] +
                                  bi.f32[ch]);
  }
  return o;
}

Tensor unary(const Ctx& c) {
  const Tensor& x = c.x(0);
  Tensor o = make(c.out(), x.dtype, x.shape);
  const std::string& t = c.op.type;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (t == "Clip") {
    if (c.op.has_attr("min")) lo = c.op.attr_float("min", lo);
    if (c.op.has_attr("max")) hi = c.op.attr_float("max", hi);
    if (c.has(1)) lo = static_cast<float>(get(c.x(1), 0));
    if (c.has(2)) hi = static_cast<float>(get(c.x(2), 0));
  }
  const float alpha = c.op.attr_float("alpha", t == "LeakyRelu" ? 0.01f : 0.2f), beta = c.op.attr_float("beta", 0.5f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = get(x, i);
    double r = v;
    if (t == "Relu") r = v > 0 ? v : 0;
    else if (t == "LeakyRelu") r = v >= 0 ? v : alpha * v;
    else if (t == "Clip") r = std::min<double>(std::max<double>(v, lo), hi);
    else if (t == "Sigmoid") r = 1.0 / (1.0 + std::exp(-v));
    else if (t == "Tanh") r = std::tanh(v);
    else if (t == "HardSigmoid") r = std::min(1.0, std::max(0.0, alpha * v + beta));
    else if (t == "HardSwish") r = v * std::min(1.0, std::max(0.0, v / 6.0 + 0.5));
    else if (t == "Exp") r = std::exp(v);
    else if (t == "Sqrt") r = std::sqrt(v);
    else if (t == "Neg") r = -v;
    else if (t == "Identity" || t == "Dropout") r = v;
    set(o, i, r);
  }
  return o;
}

Tensor binary(const Ctx& c) {
  const std::string& t = c.op.type;
  const bool where = t == "Where";
  const Tensor& a = c.x(where ? 1 : 0);
  const Tensor& b = c.x(where ? 2 : 1);
  Shape os = graph::broadcast_shapes(a.shape, b.shape, c.where);
  if (where) os = graph::broadcast_shapes(os, c.x(0).shape, c.where);
  const bool cmp = t == "Equal" || t == "Less" || t == "Greater";
  Tensor o = make(c.out(), cmp ? DType::kBool : (is_float(a) || is_float(b) ? DType::kFloat32 : a.dtype), os);
  const auto sa = strides_of(a.shape), sb = strides_of(b.shape);
  const auto sc = where ? strides_of(c.x(0).shape) : std::vector<int64_t>{};
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    const double x = get(a, bcast_index(a.shape, sa, os, oi)), y = get(b, bcast_index(b.shape, sb, os, oi));
    double r = 0;
    if (t == "Add") r = x + y;
    else if (t == "Sub") r = x - y;
    else if (t == "Mul") r = x * y;
    else if (t == "Div") r = is_float(o) ? x / y : (y != 0 ? std::floor(x / y) : 0);
    else if (t == "Pow") r = std::pow(x, y);
    else if (t == "Equal") r = x == y;
    else if (t == "Less") r = x < y;
    else if (t == "Greater") r = x > y;
    else if (t == "Max") r = std::max(x, y);
    else if (t == "Min") r = std::min(x, y);
    else if (where) r = get(c.x(0), bcast_index(c.x(0).shape, sc, os, oi)) != 0 ? x : y;
    set(o, i, r);
  }
  return o;
}

Tensor concat(const Ctx& c) {
  const Tensor& x0 = c.x(0);
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), static_cast<int64_t>(x0.shape.size()), c.where);
  Shape os = x0.shape;
  os[axis] = 0;
  for (size_t i = 0; i < c.in.size(); ++i) os[axis] += c.x(i).shape.at(axis);
  Tensor o = make(c.out(), x0.dtype, os);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= os[d];
  const int64_t inner_out = graph::numel(os) / std::max<int64_t>(1, outer);
  int64_t off = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    const Tensor& xi = c.x(i);
    const int64_t inner = xi.numel() / std::max<int64_t>(1, outer);
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < inner; ++q) set(o, p * inner_out + off + q, get(xi, p * inner + q));
    off += inner;
  }
  return o;
}

std::vector<Tensor> split(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), c.where);
  std::vector<int64_t> sizes = c.op.attr_ints("split");
  if (sizes.empty() && c.has(1)) sizes = ints_of(c.x(1));
  const int64_t n = static_cast<int64_t>(c.op.outputs.size()), dim = x.shape[axis];
  if (sizes.empty()) {
    const int64_t each = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::min(each, dim - i * each));
  }
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
  const int64_t inner_in = x.numel() / std::max<int64_t>(1, outer), unit = inner_in / std::max<int64_t>(1, dim);
  std::vector<Tensor> outs;
  int64_t off = 0;
  for (int64_t k = 0; k < n; ++k) {
    Shape s = x.shape;
    s[axis] = sizes[k];
    Tensor o = make(c.out(k), x.dtype, s);
    const int64_t inner = sizes[k] * unit;
    for (int64_t p = 0; p < outer; ++p)
      for (int64_t q = 0; q < inner; ++q) set(o, p * inner + q, get(x, p * inner_in + off + q));
    off += inner;
    outs.push_back(std::move(o));
  }
  return outs;
}

Tensor slice(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.op.has_attr("starts")) {
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
  std::vector<int64_t> st(rank, 0), sp(rank, 1);
  Shape os = x.shape;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(axes[i], rank, c.where), dim = x.shape[a], step = steps[i];
    if (step == 0) throw Error(c.where, "step 0");
    int64_t s0 = starts[i], e0 = ends[i];
    if (s0 < 0) s0 += dim;
    if (e0 < 0) e0 += dim;
    if (step > 0) {
      s0 = std::clamp<int64_t>(s0, 0, dim);
      e0 = std::clamp<int64_t>(e0, 0, dim);
      os[a] = e0 > s0 ? (e0 - s0 + step - 1) / step : 0;
    } else {
      s0 = std::clamp<int64_t>(s0, -1, dim - 1);
      e0 = std::clamp<int64_t>(e0, -1, dim - 1);
      os[a] = s0 > e0 ? (s0 - e0 - step - 1) / (-step) : 0;
    }
    st[a] = s0;
    sp[a] = step;
  }
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += (st[d] + oi[d] * sp[d]) * xs[d];
    set(o, i, get(x, src));
  }
  return o;
}

Tensor pool(const Ctx& c) {
  const Tensor& x = c.x(0);
  const std::string& t = c.op.type;
  const bool global = t == "GlobalAveragePool" || t == "GlobalMaxPool";
  const bool is_max = t == "MaxPool" || t == "GlobalMaxPool";
  if (x.shape.size() != 4) throw Error(c.where, "the reference runs 2-D pooling only");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  std::vector<int64_t> k = global ? std::vector<int64_t>{H, W} : c.op.attr_ints("kernel_shape");
  auto st = global ? std::vector<int64_t>{1, 1} : c.op.attr_ints("strides", {1, 1});
  auto pads = global ? std::vector<int64_t>{0, 0, 0, 0} : c.op.attr_ints("pads", {0, 0, 0, 0});
  auto dl = global ? std::vector<int64_t>{1, 1} : c.op.attr_ints("dilations", {1, 1});
  const std::string ap = c.op.attr_string("auto_pad", "NOTSET");
  const bool ceil_mode = c.op.attr_int("ceil_mode", 0) != 0;
  const bool count_pad = c.op.attr_int("count_include_pad", 0) != 0;
  auto out_dim = [&](int64_t in, int64_t kk, int64_t s, int64_t d, int64_t p0, int64_t p1, int64_t* lo) {
    const int64_t ke = d * (kk - 1) + 1;
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      const int64_t o = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (o - 1) * s + ke - in);
      *lo = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      return o;
    }
    if (ap == "VALID") {
      *lo = 0;
      return (in - ke) / s + 1;
    }
    *lo = p0;
    const int64_t span = in + p0 + p1 - ke;
    int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
    if (ceil_mode && (o - 1) * s >= in + p0) --o;
    return o;
  };
  int64_t pt, pl;
  const int64_t OH = out_dim(H, k[0], st[0], dl[0], pads[0], pads[2], &pt);
  const int64_t OW = out_dim(W, k[1], st[1], dl[1], pads[1], pads[3], &pl);
  Tensor o = make(c.out(), DType::kFloat32, {N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          int64_t cnt = 0, cnt_pad = 0;
          for (int64_t ky = 0; ky < k[0]; ++ky)
            for (int64_t kx = 0; kx < k[1]; ++kx) {
              const int64_t iy = oy * st[0] - pt + ky * dl[0], ix = ox * st[1] - pl + kx * dl[1];
              // count_include_pad counts the explicit padding, not the ceil_mode overhang.
              if (iy < H + (ap == "NOTSET" ? pads[2] : 0) && ix < W + (ap == "NOTSET" ? pads[3] : 0)) ++cnt_pad;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              const double v = x.f32[((n * C + ch) * H + iy) * W + ix];
              acc = is_max ? std::max(acc, v) : acc + v;
              ++cnt;
            }
          if (!is_max) acc /= std::max<int64_t>(1, count_pad ? cnt_pad : cnt);
          o.f32[((n * C + ch) * OH + oy) * OW + ox] = static_cast<float>(acc);
        }
  return o;
}

Tensor reduce_mean(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> axes = c.op.attr_ints("axes");
  if (!c.op.has_attr("axes") && c.has(1)) axes = ints_of(c.x(1));
  std::set<int64_t> ax;
  for (int64_t a : axes) ax.insert(norm_axis(a, rank, c.where));
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) ax.insert(d);
  const bool keep = c.op.attr_int("keepdims", 1) != 0;
  Shape ks = x.shape;
  for (int64_t a : ax) ks[a] = 1;
  Tensor o = make(c.out(), DType::kFloat32, ks);
  std::vector<double> acc(static_cast<size_t>(o.numel()), 0.0);
  const auto ost = strides_of(ks);
  std::vector<int64_t> xi;
  for (int64_t i = 0; i < x.numel(); ++i) {
    unravel(i, x.shape, xi);
    int64_t oi = 0;
    for (int64_t d = 0; d < rank; ++d) oi += (ax.count(d) ? 0 : xi[d]) * ost[d];
    acc[oi] += x.f32[i];
  }
  const double cnt = static_cast<double>(x.numel()) / std::max<int64_t>(1, o.numel());
  for (int64_t i = 0; i < o.numel(); ++i) o.f32[i] = static_cast<float>(acc[i] / cnt);
  if (!keep) {
    Shape s;
    for (int64_t d = 0; d < rank; ++d)
      if (!ax.count(d)) s.push_back(x.shape[d]);
    o.shape = s;
  }
  return o;
}

Tensor resize(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<double> scales;
  Shape os;
  const bool upsample = c.op.type == "Upsample";
  if (upsample) {
    auto sc = c.op.has_attr("scales") ? c.op.attr_floats("scales") : std::vector<float>{};
    if (sc.empty()) {
      const Tensor& s = c.x(1);
      for (int64_t i = 0; i < s.numel(); ++i) sc.push_back(static_cast<float>(get(s, i)));
    }
    scales.assign(sc.begin(), sc.end());
  } else if (c.has(3) && c.x(3).numel() > 0) {
    os = ints_of(c.x(3));
    for (int64_t d = 0; d < rank; ++d) scales.push_back(static_cast<double>(os[d]) / x.shape[d]);
  } else if (c.has(2) && c.x(2).numel() > 0) {
    for (int64_t i = 0; i < c.x(2).numel(); ++i) scales.push_back(get(c.x(2), i));
  } else {
    throw Error(c.where, "Resize needs scales or sizes");
  }
  if (static_cast<int64_t>(scales.size()) != rank) throw Error(c.where, "scales have the wrong rank");
  if (os.empty())
    for (int64_t d = 0; d < rank; ++d) os.push_back(static_cast<int64_t>(std::floor(x.shape[d] * scales[d])));
  const std::string mode = c.op.attr_string("mode", "nearest");
  const std::string ctm = upsample ? "asymmetric" : c.op.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nm = upsample ? "floor" : c.op.attr_string("nearest_mode", "round_prefer_floor");
  auto src_coord = [&](int64_t o, int64_t d) {
    const double s = scales[d];
    if (ctm == "asymmetric") return o / s;
    if (ctm == "align_corners") return os[d] > 1 ? o * static_cast<double>(x.shape[d] - 1) / (os[d] - 1) : 0.0;
    if (ctm == "pytorch_half_pixel") return os[d] > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    return (o + 0.5) / s - 0.5;  // half_pixel
  };
  Tensor out = make(c.out(), DType::kFloat32, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < out.numel(); ++i) {
    unravel(i, os, oi);
    if (mode == "nearest") {
      int64_t src = 0;
      for (int64_t d = 0; d < rank; ++d) {
        const double f = src_coord(oi[d], d);
        int64_t v;
        if (nm == "floor") v = static_cast<int64_t>(std::floor(f));
        else if (nm == "ceil") v = static_cast<int64_t>(std::ceil(f));
        else if (nm == "round_prefer_ceil") v = static_cast<int64_t>(std::floor(f + 0.5));
        else v = static_cast<int64_t>(std::ceil(f - 0.5));  // round_prefer_floor
        src += std::clamp<int64_t>(v, 0, x.shape[d] - 1) * xs[d];
      }
      out.f32[i] = x.f32[src];
    } else if (mode == "linear") {
      // Multilinear over every axis whose size changes.
      std::vector<int64_t> lo(rank), hi(rank);
      std::vector<double> fr(rank);
      for (int64_t d = 0; d < rank; ++d) {
        double f = os[d] == x.shape[d] && scales[d] == 1.0 ? static_cast<double>(oi[d]) : src_coord(oi[d], d);
        f = std::clamp(f, 0.0, static_cast<double>(x.shape[d] - 1));
        lo[d] = static_cast<int64_t>(std::floor(f));
        hi[d] = std::min(lo[d] + 1, x.shape[d] - 1);
        fr[d] = f - lo[d];
      }
      double acc = 0;
      for (int64_t corner = 0; corner < (int64_t{1} << rank); ++corner) {
        double wgt = 1;
        int64_t src = 0;
        for (int64_t d = 0; d < rank; ++d) {
          const bool up = (corner >> d) & 1;
          wgt *= up ? fr[d] : 1.0 - fr[d];
          src += (up ? hi[d] : lo[d]) * xs[d];
        }
        if (wgt != 0) acc += wgt * x.f32[src];
      }
      out.f32[i] = static_cast<float>(acc);
    } else {
      throw Error(c.where, "Resize mode '" + mode + "' is not supported (nearest, linear)");
    }
  }
  return out;
}

Tensor reshape_like(const Ctx& c, const graph::Graph& g) {
  // Flatten/Reshape/Squeeze/Unsqueeze only relabel the shape: infer it on a one-op graph.
  graph::Graph mini;
  mini.opset = g.opset;
  for (size_t i = 0; i < c.op.inputs.size(); ++i) {
    if (!c.has(i)) continue;
    if (i == 0) {
      mini.set_tensor_info({c.op.inputs[0], c.in[0]->dtype, c.in[0]->shape, true});
    } else {
      Tensor t = *c.in[i];
      t.name = c.op.inputs[i];
      mini.set_constant(std::move(t));
    }
  }
  auto infos = graph::infer_op(mini, c.op);
  Tensor o = *c.in[0];
  o.name = c.out();
  o.shape = infos.at(0).shape;
  return o;
}

Tensor transpose(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm = c.op.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  Shape os;
  for (int64_t p : perm) os.push_back(x.shape.at(p));
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    int64_t src = 0;
    for (int64_t d = 0; d < rank; ++d) src += oi[d] * xs[perm[d]];
    set(o, i, get(x, src));
  }
  return o;
}

Tensor pad(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> pads = c.op.has_attr("pads") ? c.op.attr_ints("pads") : ints_of(c.x(1));
  if (static_cast<int64_t>(pads.size()) != 2 * rank) throw Error(c.where, "pads has the wrong length");
  double value = c.op.attr_float("value", 0.0f);
  if (c.has(2) && c.x(2).numel() > 0) value = get(c.x(2), 0);
  const std::string mode = c.op.attr_string("mode", "constant");
  Shape os = x.shape;
  for (int64_t d = 0; d < rank; ++d) os[d] += pads[d] + pads[d + rank];
  Tensor o = make(c.out(), x.dtype, os);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> oi;
  for (int64_t i = 0; i < o.numel(); ++i) {
    unravel(i, os, oi);
    int64_t src = 0;
    bool outside = false;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t v = oi[d] - pads[d];
      const int64_t n = x.shape[d];
      if (v < 0 || v >= n) {
        if (mode == "constant") {
          outside = true;
          break;
        }
        if (mode == "edge") v = std::clamp<int64_t>(v, 0, n - 1);
        else {  // reflect
          if (n == 1) v = 0;
          while (v < 0 || v >= n) v = v < 0 ? -v : 2 * (n - 1) - v;
        }
      }
      src += v * xs[d];
    }
    set(o, i, outside ? value : get(x, src));
  }
  return o;
}

Tensor softmax(const Ctx& c) {
  const Tensor& x = c.x(0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", c.g.opset >= 13 ? -1 : 1), rank, c.where);
  Tensor o = make(c.out(), DType::kFloat32, x.shape);
  int64_t outer = 1, inner = 1, len;
  if (c.g.opset < 13) {  // coerced to 2-D at axis
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
    len = x.numel() / std::max<int64_t>(1, outer);
  } else {
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[d];
    len = x.shape[axis];
  }
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t q = 0; q < inner; ++q) {
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t k = 0; k < len; ++k) m = std::max<double>(m, x.f32[(p * len + k) * inner + q]);
      for (int64_t k = 0; k < len; ++k) s += std::exp(x.f32[(p * len + k) * inner + q] - m);
      for (int64_t k = 0; k < len; ++k)
        o.f32[(p * len + k) * inner + q] = static_cast<float>(std::exp(x.f32[(p * len + k) * inner + q] - m) / s);
    }
  return o;
}

Tensor gather(const Ctx& c) {
  const Tensor &x = c.x(0), &ind = c.x(1);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(c.op.attr_int("axis", 0), rank, c.where);
  Shape os(x.shape.begin(), x.shape.begin() + axis);
  os.insert(os.end(), ind.shape.begin(), ind.shape.end());
  os.insert(os.end(), x.shape.begin() + axis + 1, x.shape.end());
  Tensor o = make(c.out(), x.dtype, os);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[d];
  const int64_t dim = x.shape[axis], ni = ind.numel();
  for (int64_t p = 0; p < outer; ++p)
    for (int64_t j = 0; j < ni; ++j) {
      int64_t k = static_cast<int64_t>(get(ind, j));
      if (k < 0) k += dim;
      if (k < 0 || k >= dim) throw Error(c.where, "index " + std::to_string(k) + " out of range");
      for (int64_t q = 0; q < inner; ++q) set(o, (p * ni + j) * inner + q, get(x, (p * dim + k) * inner + q));
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
  o.name = c.out();
  return o;
}

std::vector<Tensor> run_op(const graph::Graph& g, const Ctx& c) {
  const std::string& t = c.op.type;
  if (c.op.unknown) throw Error(c.where, "op type '" + t + "' has no reference implementation (imported with --allow-unknown)");
  if (t == "Conv") return {conv(c)};
  if (t == "Gemm") return {gemm(c)};
  if (t == "MatMul") return {matmul(c)};
  if (t == "BatchNormalization") return {batchnorm(c)};
  if (t == "Relu" || t == "LeakyRelu" || t == "Clip" || t == "Sigmoid" || t == "Tanh" || t == "HardSigmoid" ||
      t == "HardSwish" || t == "Exp" || t == "Sqrt" || t == "Neg" || t == "Identity")
    return {unary(c)};
  if (t == "Dropout") {
    std::vector<Tensor> r{unary(c)};
    if (c.op.outputs.size() > 1 && !c.op.outputs[1].empty()) {
      Tensor m = make(c.out(1), DType::kBool, r[0].shape);
      std::fill(m.i64.begin(), m.i64.end(), 1);
      r.push_back(std::move(m));
    }
    return r;
  }
  if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div" || t == "Pow" || t == "Equal" || t == "Less" ||
      t == "Greater" || t == "Max" || t == "Min" || t == "Where")
    return {binary(c)};
  if (t == "Concat") return {concat(c)};
  if (t == "Split") return split(c);
  if (t == "Slice") return {slice(c)};
  if (t == "MaxPool" || t == "AveragePool" || t == "GlobalAveragePool" || t == "GlobalMaxPool") {
    std::vector<Tensor> r{pool(c)};
    if (c.op.outputs.size() > 1 && !c.op.outputs[1].empty())
      throw Error(c.where, "MaxPool indices output is not supported");
    return r;
  }
  if (t == "ReduceMean") return {reduce_mean(c)};
  if (t == "Resize" || t == "Upsample") return {resize(c)};
  if (t == "Flatten" || t == "Reshape" || t == "Squeeze" || t == "Unsqueeze") return {reshape_like(c, g)};
  if (t == "Transpose") return {transpose(c)};
  if (t == "Pad") return {pad(c)};
  if (t == "Softmax") return {softmax(c)};
  if (t == "Gather") return {gather(c)};
  if (t == "Constant") return {constant(c)};
  if (t == "Shape") {
    const Shape& s = c.x(0).shape;
    const int64_t r = static_cast<int64_t>(s.size());
    int64_t st = c.op.attr_int("start", 0), en = c.op.attr_int("end", r);
    if (st < 0) st += r;
    if (en < 0) en += r;
    st = std::clamp<int64_t>(st, 0, r);
    en = std::clamp<int64_t>(en, 0, r);
    Tensor o = make(c.out(), DType::kInt64, {std::max<int64_t>(0, en - st)});
    for (int64_t i = st; i < en; ++i) o.i64[i - st] = s[i];
    return {o};
  }
  if (t == "Cast") {
    const int64_t to = c.op.attr_int("to", 1);
    const DType d = to == 1 ? DType::kFloat32 : to == 6 ? DType::kInt32 : to == 7 ? DType::kInt64 : to == 9 ? DType::kBool : DType::kUnknown;
    if (d == DType::kUnknown) throw Error(c.where, "Cast to type " + std::to_string(to) + " is not supported");
    const Tensor& x = c.x(0);
    Tensor o = make(c.out(), d, x.shape);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = get(x, i);
      if (d == DType::kBool) v = v != 0;
      else if (d != DType::kFloat32) v = std::trunc(v);
      set(o, i, v);
    }
    return {o};
  }
  if (t == "ConstantOfShape") {
    DType d = DType::kFloat32;
    double v = 0;
    if (const Tensor* val = c.op.attr_tensor("value")) {
      d = val->dtype;
      v = get(*val, 0);
    }
    Tensor o = make(c.out(), d, ints_of(c.x(0)));
    for (int64_t i = 0; i < o.numel(); ++i) set(o, i, v);
    return {o};
  }
  if (t == "Expand") {
    const Tensor& x = c.x(0);
    const Shape os = graph::broadcast_shapes(x.shape, ints_of(c.x(1)), c.where);
    Tensor o = make(c.out(), x.dtype, os);
    const auto xs = strides_of(x.shape);
    std::vector<int64_t> oi;
    for (int64_t i = 0; i < o.numel(); ++i) {
      unravel(i, os, oi);
      set(o, i, get(x, bcast_index(x.shape, xs, os, oi)));
    }
    return {o};
  }
  if (t == "Range") {
    const double s0 = get(c.x(0), 0), lim = get(c.x(1), 0), d = get(c.x(2), 0);
    if (d == 0) throw Error(c.where, "Range delta 0");
    const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((lim - s0) / d)));
    Tensor o = make(c.out(), c.x(0).dtype, {n});
    for (int64_t i = 0; i < n; ++i) set(o, i, s0 + d * i);
    return {o};
  }
  throw Error(c.where, "op type '" + t + "' has no reference implementation");
}

}  // namespace

TensorMap run_reference(const graph::Graph& g, const TensorMap& inputs) {
  std::map<std::string, Tensor> live;
  for (const auto& in : g.inputs()) {
    if (g.is_constant(in)) continue;
    auto it = inputs.find(in);
    if (it == inputs.end()) throw Error("graph input '" + in + "'", "no value given");
    live[in] = it->second;
  }
  const auto order = g.topological_order();
  // Last reader of each computed tensor, to free it early.
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
      if (const Tensor* t = g.constant(in)) {
        c.in.push_back(t);
        continue;
      }
      auto it = live.find(in);
      if (it == live.end()) throw Error(c.where, "input '" + in + "' has no value");
      c.in.push_back(&it->second);
    }
    std::vector<Tensor> results = run_op(g, c);
    if (op.fused.kind != graph::Activation::kNone && !results.empty())
      for (float& v : results[0].f32) v = act(op.fused, v);
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
    if (const Tensor* t = g.constant(o)) {
      r[o] = *t;
      continue;
    }
    auto it = live.find(o);
    if (it == live.end()) throw Error("graph output '" + o + "'", "was not computed");
    r[o] = it->second;
  }
  return r;
}

TensorMap random_inputs(const graph::Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  TensorMap m;
  for (const auto& in : g.inputs()) {
    if (g.is_constant(in)) continue;
    const graph::TensorInfo* t = g.tensor_info(in);
    if (!t || !t->known) throw Error("graph input '" + in + "'", "shape unknown; give it with --input-shape");
    for (int64_t d : t->shape)
      if (d <= 0) throw Error("graph input '" + in + "'", "has a non-positive dim " + graph::shape_str(t->shape));
    if (t->dtype != DType::kFloat32) throw Error("graph input '" + in + "'", "random inputs are fp32 only");
    Tensor x = Tensor::zeros(in, t->shape);
    for (float& v : x.f32) v = u(rng);
    m[in] = std::move(x);
  }
  return m;
}

double max_rel_error(const Tensor& a, const Tensor& b, double floor) {
  if (a.shape != b.shape) return std::numeric_limits<double>::infinity();
  double max_ref = floor, max_diff = 0;
  const int64_t n = b.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double x = get(a, i), y = get(b, i);
    if (std::isnan(x) != std::isnan(y)) return std::numeric_limits<double>::infinity();
    max_diff = std::max(max_diff, std::fabs(x - y));
    max_ref = std::max(max_ref, std::fabs(y));
  }
  return max_diff / max_ref;
}

}  // namespace hilsim::runtime
