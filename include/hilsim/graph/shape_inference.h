// hilsim's own shape inference over the IR for every supported op, used after import (cross-checked
// against ONNX's) and after passes and zoo construction. Also folds ops whose inputs are all constant
// (the Shape/Gather/Unsqueeze/Cast/Concat chains) into constants.
#pragma once

#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::graph {

// Output infos of one op from its inputs' infos (and constant inputs where the op needs values:
// Reshape's shape, Slice's starts, Resize's scales). Throws Error naming the node when shapes
// contradict (e.g. Conv weight channels != input channels).
std::vector<TensorInfo> infer_op(const Graph& g, const Op& op);

// The shape function of an op type, keyed by the op registry's names; nullptr for a type it lacks.
using ShapeFunction = std::vector<TensorInfo> (*)(const Graph& g, const Op& op);
ShapeFunction shape_function(const std::string& type);

// Fills TensorInfo for every tensor in topological order; throws Error naming the node when shapes
// contradict or a tensor would exceed 2^40 bytes.
void infer_shapes(Graph& g);

// Replaces ops whose inputs are all constants (and Shape of a known shape) by constants; returns the
// number of ops folded. Runs infer_shapes as it goes.
int fold_constants(Graph& g);

// Numpy broadcast of two shapes; throws Error(where, ...) when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where);

}  // namespace hilsim::graph
