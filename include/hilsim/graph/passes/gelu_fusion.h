#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Replaces exact GELU as torch exports it before opset 20, x * 0.5 * (1 + erf(x / sqrt(2))) in five
// nodes (Div, Erf, Add, Mul, Mul), by one "Gelu" node (the opset-20 op, approximate = "none") named
// after the last Mul: one pass over the tensor instead of five. Returns the names of the nodes removed.
std::vector<std::string> fuse_gelu(Graph& g);
// The same for the tanh form (torch's GELU(approximate="tanh")), nine nodes: Mul(x, x), Mul(x, .),
// Mul(0.044715, .), Add(x, .), Mul(sqrt(2 / pi), .), Tanh, Add(1, .), Mul(x, .), Mul(0.5, .), by one
// Gelu with approximate = "tanh". Returns the names of the eight nodes removed per match.
std::vector<std::string> fuse_gelu_tanh(Graph& g);
}  // namespace hilsim::graph::passes
