// Two units for executor tests: the first half of the canonical ops on one unit, the rest on the
// other. Tensors cross (skip connections reach across the halves) and both units work; which split is
// fastest is the partitioner's business, here only exactness and the hand-offs matter.
#pragma once

#include <map>
#include <string>

#include "hilsim/graph/graph.h"
#include "hilsim/graph/passes/canonicalize.h"

namespace hilsim::runtime {

inline std::map<std::string, std::string> halves(const graph::Graph& g0, const std::string& first,
                                                 const std::string& second) {
  graph::Graph g = g0;
  graph::passes::canonicalize(g);
  const auto order = g.topological_order();
  std::map<std::string, std::string> assign;
  for (size_t i = 0; i < order.size(); ++i) assign[g.op(order[i]).name] = i < order.size() / 2 ? first : second;
  return assign;
}

}  // namespace hilsim::runtime
