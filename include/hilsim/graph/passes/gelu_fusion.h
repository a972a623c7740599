#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Replaces exact GELU as torch exports it before opset 20, x * 0.5 * (1 + erf(x / sqrt(2))) in five
// nodes (Div, Erf, Add, Mul, Mul), by one "Gelu" node (the opset-20 op, approximate = "none") named
// after the last Mul: one pass over the tensor instead of five. Returns the names of the nodes removed.
std::vector<std::string> fuse_gelu(Graph& g);
}  // namespace hilsim::graph::passes
