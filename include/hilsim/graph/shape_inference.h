// hilsim's own shape inference over the IR for every supported op, used after import (cross-checked
// against ONNX's) and after passes and zoo construction. Also folds ops whose inputs are all constant
// (the Shape/Gather/Unsqueeze/Cast/Concat chains) into constants.
#pragma once

#include "hilsim/graph/graph.h"

namespace hilsim::graph {

// Fills TensorInfo for every tensor; throws Error naming the node when shapes contradict
// (e.g. Conv weight channels != input channels) or a tensor would exceed 2^40 bytes.
void infer_shapes(Graph& g);

// Replaces ops whose inputs are all constants (and Shape of a known shape) by constants; returns the
// number of ops folded. Runs infer_shapes as it goes.
int fold_constants(Graph& g);

}  // namespace hilsim::graph
