#include "hilsim/graph/passes/fusion.h"

#include <algorithm>
#include <set>

namespace hilsim::graph::passes {

namespace {

bool is_graph_output(const Graph& g, const std::string& t) {
  return std::find(g.outputs().begin(), g.outputs().end(), t) != g.outputs().end();
}

// Scalar value of a constant input, if it is one.
std::optional<float> scalar(const Graph& g, const Op& op, size_t i) {
  auto n = op.input(i);
  if (!n) return std::nullopt;
  const Tensor* t = g.constant(*n);
  if (!t || t->numel() != 1) return std::nullopt;
  return t->dtype == DType::kFloat32 ? t->f32[0] : static_cast<float>(t->i64[0]);
}

}  // namespace

int fuse_activations(Graph& g) {
  int fused = 0;
  std::vector<OpId> dead;
  std::set<OpId> gone;
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    // Binary ops take the activation too: a residual Add + Relu is one pass over the tensor (the
    // binary kernel applies it to each chunk while it is in L1) instead of a second one. So does a
    // standalone BatchNormalization (pre-activation nets: DenseNet's BN + ReLU before each conv).
    const bool fusible = op.type == "Conv" || op.type == "Gemm" || op.type == "Add" || op.type == "Mul" ||
                         (op.type == "BatchNormalization" && op.attr_int("training_mode", 0) == 0);
    if (!fusible || op.fused.kind != Activation::kNone || gone.count(id) || op.outputs.size() != 1) continue;
    const std::string y = op.outputs[0];
    if (is_graph_output(g, y)) continue;
    const auto users = g.consumers(y);
    FusedActivation fa;
    std::vector<OpId> remove;
    std::string new_out;
    if (users.size() == 1) {
      const Op& a = g.op(users[0]);
      if (a.inputs.empty() || a.inputs[0] != y) continue;
      if (a.type == "Relu") fa.kind = Activation::kRelu;
      else if (a.type == "Sigmoid") fa.kind = Activation::kSigmoid;
      else if (a.type == "HardSwish") fa.kind = Activation::kHardSwish;
      else if (a.type == "HardSigmoid") {
        fa.kind = Activation::kHardSigmoid;
        fa.alpha = a.attr_float("alpha", 0.2f);
        fa.beta = a.attr_float("beta", 0.5f);
      } else if (a.type == "Clip") {
        auto lo = a.has_attr("min") ? std::optional<float>(a.attr_float("min", 0)) : scalar(g, a, 1);
        auto hi = a.has_attr("max") ? std::optional<float>(a.attr_float("max", 0)) : scalar(g, a, 2);
        if ((a.input(1) && !lo) || (a.input(2) && !hi)) continue;
        fa.kind = Activation::kClip;
        fa.min = lo.value_or(-3.4e38f);
        fa.max = hi.value_or(3.4e38f);
      } else {
        continue;
      }
      fa.source_op = a.name;
      remove = {users[0]};
      new_out = a.outputs[0];
    } else if (users.size() == 2) {
      // SiLU as torch exports it: y * Sigmoid(y).
      const Op* sig = nullptr;
      const Op* mul = nullptr;
      OpId sig_id = 0, mul_id = 0;
      for (OpId u : users) {
        const Op& a = g.op(u);
        if (a.type == "Sigmoid") { sig = &a; sig_id = u; }
        if (a.type == "Mul") { mul = &a; mul_id = u; }
      }
      if (!sig || !mul || is_graph_output(g, sig->outputs[0])) continue;
      const auto su = g.consumers(sig->outputs[0]);
      if (su.size() != 1 || su[0] != mul_id) continue;
      const bool shape_ok = (mul->inputs[0] == y && mul->inputs[1] == sig->outputs[0]) ||
                            (mul->inputs[1] == y && mul->inputs[0] == sig->outputs[0]);
      if (!shape_ok) continue;
      fa.kind = Activation::kSiLU;
      fa.source_op = mul->name;
      remove = {sig_id, mul_id};
      new_out = mul->outputs[0];
    } else {
      continue;
    }
    Op& m = g.mutable_op(id);
    m.fused = fa;
    m.outputs[0] = new_out;
    for (OpId r : remove) {
      // Detach at once so the tensor has a single producer while the pass goes on.
      g.mutable_op(r).inputs.clear();
      g.mutable_op(r).outputs.clear();
      dead.push_back(r);
      gone.insert(r);
    }
    ++fused;
  }
  g.remove_dead_ops(dead);
  return fused;
}

}  // namespace hilsim::graph::passes
