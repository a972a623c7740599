#include "hilsim/graph/passes/pad_fold.h"

#include <algorithm>

namespace hilsim::graph::passes {

namespace {

// The pads of a Pad node as 2 * rank values, if they are known at compile time.
std::optional<std::vector<int64_t>> const_pads(const Graph& g, const Op& pad) {
  if (pad.has_attr("pads")) return pad.attr_ints("pads");
  auto n = pad.input(1);
  if (!n) return std::nullopt;
  const Tensor* t = g.constant(*n);
  if (!t || t->dtype == DType::kFloat32) return std::nullopt;
  return t->i64;
}

bool zero_fill(const Graph& g, const Op& pad) {
  if (pad.attr_string("mode", "constant") != "constant") return false;
  if (pad.attr_float("value", 0.0f) != 0.0f) return false;
  if (auto n = pad.input(2)) {
    const Tensor* t = g.constant(*n);
    if (!t) return false;
    for (float v : t->f32)
      if (v != 0.0f) return false;
    for (int64_t v : t->i64)
      if (v != 0) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> fold_pads_into_convs(Graph& g) {
  std::vector<std::string> removed;
  std::vector<OpId> dead;
  for (OpId id : g.topological_order()) {
    const Op& pad = g.op(id);
    if (pad.type != "Pad" || pad.inputs.empty() || pad.outputs.size() != 1 || pad.input(3)) continue;
    const std::string y = pad.outputs[0];
    if (std::find(g.outputs().begin(), g.outputs().end(), y) != g.outputs().end()) continue;
    const auto users = g.consumers(y);
    if (users.size() != 1) continue;
    const Op& conv = g.op(users[0]);
    // An average pool counting its pads averages over the explicit zeros as well; one excluding its own
    // pads would count the explicit zeros but not its own, so only a pad-free one folds.
    bool pool_unpadded = true;
    for (int64_t v : conv.attr_ints("pads", {})) pool_unpadded = pool_unpadded && v == 0;
    const bool avg_pool =
        conv.type == "AveragePool" && (conv.attr_int("count_include_pad", 0) != 0 || pool_unpadded);
    if ((conv.type != "Conv" && !avg_pool) || conv.inputs.empty() || conv.inputs[0] != y) continue;
    if (std::count(conv.inputs.begin(), conv.inputs.end(), y) != 1) continue;
    if (conv.attr_string("auto_pad", "NOTSET") != "NOTSET" || !zero_fill(g, pad)) continue;
    const TensorInfo* xi = g.tensor_info(pad.inputs[0]);
    if (!xi || !xi->known) continue;
    const size_t rank = xi->shape.size();
    auto pads = const_pads(g, pad);
    if (!pads || pads->size() != 2 * rank || rank < 3) continue;
    // Batch and channel pads, and crops (negative pads), are not a conv's padding.
    bool ok = (*pads)[0] == 0 && (*pads)[1] == 0 && (*pads)[rank] == 0 && (*pads)[rank + 1] == 0;
    for (int64_t v : *pads) ok = ok && v >= 0;
    if (!ok) continue;
    const size_t sp = rank - 2;
    std::vector<int64_t> cp = conv.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
    if (cp.size() != 2 * sp) continue;
    for (size_t d = 0; d < sp; ++d) {
      cp[d] += (*pads)[2 + d];
      cp[sp + d] += (*pads)[rank + 2 + d];
    }
    const std::string x = pad.inputs[0], name = pad.name;
    Op& c = g.mutable_op(users[0]);
    c.attrs["pads"] = cp;
    if (avg_pool) c.attrs["count_include_pad"] = int64_t{1};
    c.inputs[0] = x;
    removed.push_back(name);
    Op& p = g.mutable_op(id);
    p.inputs.clear();
    p.outputs.clear();
    dead.push_back(id);
  }
  g.remove_dead_ops(dead);
  return removed;
}

}  // namespace hilsim::graph::passes
