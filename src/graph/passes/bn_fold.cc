#include "hilsim/graph/passes/bn_fold.h"

#include <algorithm>
#include <cmath>

#include "hilsim/util/error.h"

namespace hilsim::graph::passes {

namespace {

bool single_use(const Graph& g, const std::string& t) {
  if (std::find(g.outputs().begin(), g.outputs().end(), t) != g.outputs().end()) return false;
  return g.consumers(t).size() == 1;
}

const Tensor* float_const(const Graph& g, const std::optional<std::string>& name) {
  if (!name) return nullptr;
  const Tensor* t = g.constant(*name);
  return t && t->dtype == DType::kFloat32 ? t : nullptr;
}

}  // namespace

int fold_batchnorm(Graph& g) {
  int folded = 0;
  std::vector<OpId> dead;
  for (OpId bn_id : g.topological_order()) {
    const Op& bn = g.op(bn_id);
    if (bn.type != "BatchNormalization" || bn.inputs.size() < 5) continue;
    auto prod = g.producer(bn.inputs[0]);
    if (!prod || !single_use(g, bn.inputs[0])) continue;
    const Op& conv = g.op(*prod);
    if ((conv.type != "Conv" && conv.type != "Gemm") || conv.fused.kind != Activation::kNone) continue;
    const Tensor* w = float_const(g, conv.input(1));
    const Tensor *gamma = float_const(g, bn.input(1)), *beta = float_const(g, bn.input(2)),
                 *mean = float_const(g, bn.input(3)), *var = float_const(g, bn.input(4));
    if (!w || !gamma || !beta || !mean || !var) continue;
    const Tensor* bias = float_const(g, conv.input(2));
    if (conv.input(2) && !bias) continue;
    const bool gemm = conv.type == "Gemm";
    if (gemm && (conv.attr_int("transA", 0) != 0 || w->shape.size() != 2)) continue;
    const bool trans_b = gemm && conv.attr_int("transB", 0) != 0;
    const int64_t f = gemm ? (trans_b ? w->shape[0] : w->shape[1]) : w->shape[0];
    if (gamma->numel() != f || beta->numel() != f || mean->numel() != f || var->numel() != f) continue;
    if (bias && bias->numel() != f) continue;
    const float eps = bn.attr_float("epsilon", 1e-5f);
    const float alpha = gemm ? conv.attr_float("alpha", 1.0f) : 1.0f;
    const float cbeta = gemm ? conv.attr_float("beta", 1.0f) : 1.0f;

    Tensor nw = *w;
    nw.name = g.fresh_name(conv.name + ".weight_bnfold");
    Tensor nb = Tensor::zeros(g.fresh_name(conv.name + ".bias_bnfold"), {f});
    std::vector<double> scale(static_cast<size_t>(f));
    for (int64_t i = 0; i < f; ++i) {
      scale[i] = gamma->f32[i] / std::sqrt(static_cast<double>(var->f32[i]) + eps);
      const double b0 = bias ? static_cast<double>(bias->f32[i]) * cbeta : 0.0;
      nb.f32[i] = static_cast<float>((b0 - mean->f32[i]) * scale[i] + beta->f32[i]);
    }
    const int64_t per = nw.numel() / f;
    for (int64_t i = 0; i < nw.numel(); ++i) {
      int64_t ch;
      if (!gemm) ch = i / per;
      else ch = trans_b ? i / w->shape[1] : i % w->shape[1];
      nw.f32[i] = static_cast<float>(nw.f32[i] * scale[ch]);
    }
    (void)alpha;  // alpha scales A*B; scaling B by s keeps alpha as is
    const std::string out = bn.outputs[0];
    // Detach the BN first so `out` keeps a single producer while the pass goes on.
    g.mutable_op(bn_id).inputs.clear();
    g.mutable_op(bn_id).outputs.clear();
    Op& c = g.mutable_op(*prod);
    if (c.inputs.size() < 3) c.inputs.resize(3);
    c.inputs[1] = nw.name;
    c.inputs[2] = nb.name;
    if (gemm) c.attrs["beta"] = 1.0f;
    c.outputs[0] = out;
    g.set_constant(std::move(nw));
    g.set_constant(std::move(nb));
    dead.push_back(bn_id);
    ++folded;
  }
  g.remove_dead_ops(dead);
  return folded;
}

std::vector<std::string> fold_batchnorm_into_next_conv(Graph& g) {
  std::vector<std::string> removed;
  std::vector<OpId> dead;
  for (OpId bn_id : g.topological_order()) {
    const Op& bn = g.op(bn_id);
    if (bn.type != "BatchNormalization" || bn.inputs.size() < 5 || bn.outputs.size() != 1) continue;
    if (bn.fused.kind != Activation::kNone || bn.attr_int("training_mode", 0) != 0) continue;
    const std::string y = bn.outputs[0];
    if (!single_use(g, y)) continue;
    const OpId conv_id = g.consumers(y)[0];
    const Op& conv = g.op(conv_id);
    if (conv.type != "Conv" || conv.inputs.size() < 2 || conv.inputs[0] != y || conv.inputs[1] == y) continue;
    if (conv.input(2) && *conv.input(2) == y) continue;
    const std::string ap = conv.attr_string("auto_pad", "NOTSET");
    if (ap != "NOTSET" && ap != "VALID") continue;
    bool padded = false;
    if (ap == "NOTSET")
      for (int64_t v : conv.attr_ints("pads", {})) padded = padded || v != 0;
    if (padded) continue;
    const Tensor* w = float_const(g, conv.input(1));
    const Tensor *gamma = float_const(g, bn.input(1)), *beta = float_const(g, bn.input(2)),
                 *mean = float_const(g, bn.input(3)), *var = float_const(g, bn.input(4));
    const Tensor* bias = float_const(g, conv.input(2));
    if (!w || !gamma || !beta || !mean || !var || (conv.input(2) && !bias) || w->shape.size() < 3) continue;
    const int64_t c = gamma->numel(), f = w->shape[0], groups = conv.attr_int("group", 1);
    if (groups < 1 || f % groups != 0 || w->shape[1] * groups != c) continue;
    if (beta->numel() != c || mean->numel() != c || var->numel() != c || (bias && bias->numel() != f)) continue;
    const double eps = bn.attr_float("epsilon", 1e-5f);
    std::vector<double> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) {
      scale[i] = gamma->f32[i] / std::sqrt(static_cast<double>(var->f32[i]) + eps);
      shift[i] = beta->f32[i] - mean->f32[i] * scale[i];
    }
    const int64_t cpg = w->shape[1], taps = w->numel() / (f * cpg), fpg = f / groups;
    Tensor nw = *w;
    nw.name = g.fresh_name(conv.name + ".weight_bnfold_in");
    Tensor nb = Tensor::zeros(g.fresh_name(conv.name + ".bias_bnfold_in"), {f});
    for (int64_t o = 0; o < f; ++o) {
      double b = bias ? bias->f32[o] : 0.0;
      for (int64_t ci = 0; ci < cpg; ++ci) {
        const int64_t ch = (o / fpg) * cpg + ci;
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t i = (o * cpg + ci) * taps + t;
          b += static_cast<double>(w->f32[i]) * shift[ch];
          nw.f32[i] = static_cast<float>(w->f32[i] * scale[ch]);
        }
      }
      nb.f32[o] = static_cast<float>(b);
    }
    const std::string x = bn.inputs[0], name = bn.name;
    Op& cv = g.mutable_op(conv_id);
    if (cv.inputs.size() < 3) cv.inputs.resize(3);
    cv.inputs[0] = x;
    cv.inputs[1] = nw.name;
    cv.inputs[2] = nb.name;
    g.set_constant(std::move(nw));
    g.set_constant(std::move(nb));
    Op& dead_bn = g.mutable_op(bn_id);
    dead_bn.inputs.clear();
    dead_bn.outputs.clear();
    dead.push_back(bn_id);
    removed.push_back(name);
  }
  g.remove_dead_ops(dead);
  return removed;
}

}  // namespace hilsim::graph::passes
