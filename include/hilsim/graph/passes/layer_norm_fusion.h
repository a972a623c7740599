#pragma once
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Recognises layer normalisation as exporters write it below opset 17 (ReduceMean, Sub, Pow 2,
// ReduceMean, Add eps, Sqrt, Div, then optionally Mul by a scale and Add of a bias, all over the
// trailing axes) and replaces the chain with one LayerNormalization node: nine memory-bound passes
// over the tensor become one kernel, the one the opset-17 export of the same model runs.
// Returns the number of chains replaced.
int fuse_layer_norm(Graph& g);
}  // namespace hilsim::graph::passes
