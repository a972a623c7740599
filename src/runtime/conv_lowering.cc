#include "hilsim/runtime/conv_lowering.h"

#include <algorithm>

#include "hilsim/util/error.h"

namespace hilsim::runtime {

kernels::Epilogue epilogue_of(const graph::Op& op) {
  kernels::Epilogue e;
  switch (op.fused.kind) {
    case graph::Activation::kNone: e.act = kernels::Act::kNone; break;
    case graph::Activation::kRelu: e.act = kernels::Act::kRelu; break;
    case graph::Activation::kClip:
      e.act = kernels::Act::kClip;
      e.min = op.fused.min;
      e.max = op.fused.max;
      break;
    case graph::Activation::kSigmoid: e.act = kernels::Act::kSigmoid; break;
    case graph::Activation::kSiLU: e.act = kernels::Act::kSiLU; break;
    case graph::Activation::kHardSwish: e.act = kernels::Act::kHardSwish; break;
    case graph::Activation::kHardSigmoid:
      e.act = kernels::Act::kHardSigmoid;
      e.alpha = op.fused.alpha;
      e.beta = op.fused.beta;
      break;
  }
  return e;
}

kernels::ConvShape conv_shape_of(const graph::Graph& g, const graph::Op& op) {
  std::string where = "node '" + op.name + "'";
  if (op.inputs.size() < 2) throw Error(where, "Conv needs an input and a weight");
  const graph::Shape& x = g.shape(op.inputs[0]);
  const graph::Shape& w = g.shape(op.inputs[1]);
  if (x.size() != 4 || w.size() != 4) throw Error(where, "only 2-D convolutions (NCHW input, OIHW weight) are supported here");
  kernels::ConvShape s;
  s.n = x[0], s.c = x[1], s.h = x[2], s.w = x[3];
  s.f = w[0], s.kh = w[2], s.kw = w[3];
  s.groups = op.attr_int("group", 1);
  auto st = op.attr_ints("strides", {1, 1});
  auto dl = op.attr_ints("dilations", {1, 1});
  if (st.size() != 2 || dl.size() != 2) throw Error(where, "strides and dilations must have 2 values");
  s.stride_h = st[0], s.stride_w = st[1];
  s.dil_h = dl[0], s.dil_w = dl[1];
  std::string ap = op.attr_string("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    auto same = [&](int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t* lo, int64_t* hi) {
      int64_t out = (in + stride - 1) / stride;
      int64_t total = std::max<int64_t>(0, (out - 1) * stride + (k - 1) * dil + 1 - in);
      *lo = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      *hi = total - *lo;
    };
    same(s.h, s.kh, s.stride_h, s.dil_h, &s.pad_top, &s.pad_bottom);
    same(s.w, s.kw, s.stride_w, s.dil_w, &s.pad_left, &s.pad_right);
  } else if (ap != "VALID") {
    auto p = op.attr_ints("pads", {0, 0, 0, 0});
    if (p.size() != 4) throw Error(where, "pads must have 4 values for a 2-D conv");
    s.pad_top = p[0], s.pad_left = p[1], s.pad_bottom = p[2], s.pad_right = p[3];
  }
  if (w[1] * s.groups != s.c)
    throw Error(where, "weight has " + std::to_string(w[1]) + " input channels x " + std::to_string(s.groups) +
                           " groups, input has " + std::to_string(s.c));
  s.validate();
  return s;
}

}  // namespace hilsim::runtime
