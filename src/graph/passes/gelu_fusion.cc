#include "hilsim/graph/passes/gelu_fusion.h"

#include <algorithm>
#include <cmath>

namespace hilsim::graph::passes {

namespace {

bool is_graph_output(const Graph& g, const std::string& t) {
  return std::find(g.outputs().begin(), g.outputs().end(), t) != g.outputs().end();
}

// The one consumer of `t`, if `t` has exactly one and is no graph output.
std::optional<OpId> only_consumer(const Graph& g, const std::string& t) {
  if (is_graph_output(g, t)) return std::nullopt;
  const auto users = g.consumers(t);
  if (users.size() != 1) return std::nullopt;
  return users[0];
}

// Whether binary op `op` reads `t` and a scalar fp32 constant near `value`; `other` gets t's slot.
bool with_scalar(const Graph& g, const Op& op, const std::string& t, double value, bool t_first_only) {
  if (op.inputs.size() != 2) return false;
  const int slot = op.inputs[0] == t ? 0 : (!t_first_only && op.inputs[1] == t ? 1 : -1);
  if (slot < 0) return false;
  const Tensor* c = g.constant(op.inputs[1 - slot]);
  if (!c || c->dtype != DType::kFloat32 || c->numel() != 1) return false;
  return std::fabs(c->f32[0] - value) <= 1e-6 * std::fabs(value);
}

// The input of binary `op` other than `t` (empty when `op` does not read `t` or has not two inputs).
std::string other_input(const Op& op, const std::string& t) {
  if (op.inputs.size() != 2) return "";
  return op.inputs[0] == t ? op.inputs[1] : op.inputs[1] == t ? op.inputs[0] : "";
}

// The one consumer of `t` if it is an unfused `type` op with one output.
const Op* next_op(const Graph& g, const std::string& t, const char* type, OpId* id) {
  auto c = only_consumer(g, t);
  if (!c) return nullptr;
  const Op& op = g.op(*c);
  if (op.type != type || op.fused.kind != Activation::kNone || op.outputs.size() != 1) return nullptr;
  *id = *c;
  return &op;
}

// Turns the last node of a matched chain into the Gelu and marks the others dead.
void make_gelu(Graph& g, const std::vector<OpId>& chain, const std::string& x, const char* approximate,
               std::vector<std::string>& removed, std::vector<OpId>& dead) {
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    removed.push_back(g.op(chain[i]).name);
    Op& o = g.mutable_op(chain[i]);
    o.inputs.clear();
    o.outputs.clear();
    dead.push_back(chain[i]);
  }
  Op& gelu = g.mutable_op(chain.back());
  gelu.type = "Gelu";
  gelu.inputs = {x};
  gelu.attrs.clear();
  gelu.attrs["approximate"] = std::string(approximate);
}

}  // namespace

std::vector<std::string> fuse_gelu_tanh(Graph& g) {
  std::vector<std::string> removed;
  std::vector<OpId> dead;
  for (OpId id : g.topological_order()) {
    const Op& sq = g.op(id);
    if (sq.type != "Mul" || sq.fused.kind != Activation::kNone || sq.outputs.size() != 1 || sq.inputs.size() != 2 ||
        sq.inputs[0] != sq.inputs[1] || sq.inputs[0].empty())
      continue;
    const std::string x = sq.inputs[0];
    // x * x * x, then 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) as torch writes it.
    std::vector<OpId> chain{id};
    // Each later node: its type and what its other input must be (x, a scalar, or none for Tanh).
    enum class Other { kX, kScalar, kNone };
    struct Step { const char* type; Other other; double value; };
    static const Step steps[] = {{"Mul", Other::kX, 0},       {"Mul", Other::kScalar, 0.044715},
                                 {"Add", Other::kX, 0},       {"Mul", Other::kScalar, 0.7978845608028654},  // sqrt(2 / pi)
                                 {"Tanh", Other::kNone, 0},   {"Add", Other::kScalar, 1.0},
                                 {"Mul", Other::kX, 0},       {"Mul", Other::kScalar, 0.5}};
    std::string cur = sq.outputs[0];
    bool match = true;
    for (const Step& st : steps) {
      OpId k = 0;
      const Op* op = next_op(g, cur, st.type, &k);
      match = op && (st.other == Other::kNone ||
                     (st.other == Other::kX ? other_input(*op, cur) == x : with_scalar(g, *op, cur, st.value, false)));
      if (!match) break;
      chain.push_back(k);
      cur = op->outputs[0];
    }
    if (!match) continue;
    make_gelu(g, chain, x, "tanh", removed, dead);
  }
  g.remove_dead_ops(dead);
  return removed;
}

std::vector<std::string> fuse_gelu(Graph& g) {
  std::vector<std::string> removed;
  std::vector<OpId> dead;
  for (OpId id : g.topological_order()) {
    const Op& div = g.op(id);
    if (div.type != "Div" || div.fused.kind != Activation::kNone || div.outputs.size() != 1) continue;
    const std::string x = div.inputs.empty() ? "" : div.inputs[0];
    if (x.empty() || !with_scalar(g, div, x, std::sqrt(2.0), true)) continue;
    auto erf_id = only_consumer(g, div.outputs[0]);
    if (!erf_id || g.op(*erf_id).type != "Erf") continue;
    const Op& erf = g.op(*erf_id);
    auto add_id = only_consumer(g, erf.outputs[0]);
    if (!add_id) continue;
    const Op& add = g.op(*add_id);
    if (add.type != "Add" || add.fused.kind != Activation::kNone || !with_scalar(g, add, erf.outputs[0], 1.0, false))
      continue;
    auto mul1_id = only_consumer(g, add.outputs[0]);
    if (!mul1_id) continue;
    const Op& mul1 = g.op(*mul1_id);
    if (mul1.type != "Mul" || mul1.fused.kind != Activation::kNone || mul1.inputs.size() != 2) continue;
    const bool reads_x = (mul1.inputs[0] == x && mul1.inputs[1] == add.outputs[0]) ||
                         (mul1.inputs[1] == x && mul1.inputs[0] == add.outputs[0]);
    if (!reads_x) continue;
    auto mul2_id = only_consumer(g, mul1.outputs[0]);
    if (!mul2_id) continue;
    const Op& mul2 = g.op(*mul2_id);
    if (mul2.type != "Mul" || mul2.fused.kind != Activation::kNone ||
        !with_scalar(g, mul2, mul1.outputs[0], 0.5, false))
      continue;
    // The GELU node takes the last Mul's place (its name and output), the other four go.
    make_gelu(g, {id, *erf_id, *add_id, *mul1_id, *mul2_id}, x, "none", removed, dead);
  }
  g.remove_dead_ops(dead);
  return removed;
}

}  // namespace hilsim::graph::passes
