#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Folds an explicit constant-zero Pad of the spatial dims into the Conv (or AveragePool counting pads)
// that alone reads it: the op's own zero padding computes the same thing without a copy of the padded
// tensor. Returns the names of the Pad ops removed.
std::vector<std::string> fold_pads_into_convs(Graph& g);
}  // namespace hilsim::graph::passes
