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
  if (!dead.empty()) {
    g.remove_ops(dead);
    g.prune_unused_constants();
  }
  return folded;
}

}  // namespace hilsim::graph::passes
