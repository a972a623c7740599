#pragma once
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Marks Conv/Gemm/Add/Mul/BatchNormalization + Relu / Clip / Sigmoid / HardSwish / HardSigmoid, and
// X + Sigmoid + Mul (SiLU), as one kernel instance: the activation moves into Op::fused and its node is removed.
// Returns the number of activations fused.
int fuse_activations(Graph& g);
}  // namespace hilsim::graph::passes
