#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Recognises layer normalisation as exporters write it below opset 17 (ReduceMean, Sub, Pow 2,
// ReduceMean, Add eps, Sqrt, Div, then optionally Mul by a scale and Add of a bias, all over the
// trailing axes) and replaces the chain with one LayerNormalization node: nine memory-bound passes
// over the tensor become one kernel, the one the opset-17 export of the same model runs.
// The node takes the name of the chain's last op; the names of the others go to `removed`. Returns the
// number of chains replaced.
int fuse_layer_norm(Graph& g, std::vector<std::string>* removed = nullptr);
}  // namespace hilsim::graph::passes
