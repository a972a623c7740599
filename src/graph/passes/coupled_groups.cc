#include "hilsim/graph/passes/coupled_groups.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace hilsim::graph::passes {

namespace {

bool is_depthwise(const Graph& g, const Op& op) {
  if (op.type != "Conv") return false;
  const int64_t groups = op.attr_int("group", 1);
  const Shape& w = g.shape(op.inputs.at(1));
  return groups > 1 && w[1] == 1 && w[0] == groups;
}

// Ops whose output channel i depends only on input channel i (so channel pruning passes through).
bool channel_preserving(const std::string& t) {
  static const std::set<std::string> ops = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Tanh",
                                            "BatchNormalization", "MaxPool", "AveragePool", "Resize", "Upsample",
                                            "Identity", "Dropout", "Add", "Mul", "Sub", "Div", "Concat", "Split",
                                            "Pad", "Exp", "Neg", "Sqrt"};
  return ops.count(t) != 0;
}

}  // namespace

std::vector<CoupledGroup> find_coupled_groups(const Graph& g) {
  // Channel spaces: tensors joined by channel-preserving ops. Depth-first search from every conv's
  // output forward through them and backward into the other operands they join.
  std::map<std::string, int> space;
  int next = 0;
  std::vector<std::string> reasons;
  std::function<void(const std::string&, int)> visit = [&](const std::string& t, int s) {
    if (t.empty() || space.count(t) || g.is_constant(t)) return;
    space[t] = s;
    for (OpId u : g.consumers(t)) {
      const Op& op = g.op(u);
      const bool dw = is_depthwise(g, op);
      if (!channel_preserving(op.type) && !dw) continue;
      if (op.type == "Concat" && op.attr_int("axis", 0) != 1) continue;
      if ((op.type == "Add" || op.type == "Mul" || op.type == "Sub" || op.type == "Div" || op.type == "Concat" || dw) &&
          reasons[s].empty())
        reasons[s] = (dw ? std::string("depthwise") : op.type) + " '" + op.name + "'";
      if (dw) {
        visit(op.outputs[0], s);
        continue;
      }
      for (const auto& o : op.outputs) visit(o, s);
      if (op.type == "Add" || op.type == "Mul" || op.type == "Sub" || op.type == "Div") {
        // Operands of an elementwise op share channels: walk back through their producers' chains.
        for (const auto& in : op.inputs) {
          if (in.empty() || g.is_constant(in)) continue;
          std::string cur = in;
          for (;;) {
            visit(cur, s);
            auto p = g.producer(cur);
            if (!p) break;
            const Op& po = g.op(*p);
            if (po.type == "Conv" && !is_depthwise(g, po)) break;
            if (!channel_preserving(po.type) && !is_depthwise(g, po)) break;
            if (po.inputs.empty()) break;
            cur = po.inputs[0];
          }
        }
      }
    }
  };
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    if (op.type != "Conv" || is_depthwise(g, op)) continue;
    if (space.count(op.outputs[0])) continue;
    reasons.emplace_back();
    visit(op.outputs[0], next++);
  }
  std::vector<CoupledGroup> groups(static_cast<size_t>(next));
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    if (op.type != "Conv" && op.type != "Gemm") continue;
    auto it = space.find(op.outputs[0]);
    if (it != space.end()) groups[it->second].convs.push_back(op.name);
    if (!is_depthwise(g, op)) {
      auto in = space.find(op.inputs[0]);
      if (in != space.end()) groups[in->second].children.push_back(op.name);
    }
  }
  std::vector<CoupledGroup> out;
  for (int s = 0; s < next; ++s) {
    CoupledGroup& cg = groups[s];
    if (cg.convs.size() < 2) continue;  // a lone layer is free to prune on its own
    cg.reason = reasons[s];
    cg.id = static_cast<int>(out.size());
    out.push_back(std::move(cg));
  }
  return out;
}

}  // namespace hilsim::graph::passes
