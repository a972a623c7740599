#pragma once
#include <string>
#include <vector>
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// R-TOSS parent-child groups: convs whose output channels are tied (through Add/Mul, Concat slices,
// depthwise convs, elementwise ops) so a channel/pattern pruning decision must be shared. Found by a
// depth-first search over the graph.
struct CoupledGroup {
  int id = 0;
  std::vector<std::string> convs;     // layers whose output channels are coupled (parents)
  std::vector<std::string> children;  // layers reading those channels: their input channels follow
  std::string reason;                 // e.g. "Add 'blk3_add'", "depthwise 'dw5'"
};
std::vector<CoupledGroup> find_coupled_groups(const Graph& g);
}  // namespace hilsim::graph::passes
