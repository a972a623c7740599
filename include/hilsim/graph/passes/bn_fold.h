#pragma once
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Folds BatchNormalization into the preceding Conv/Gemm when that conv's output feeds only the BN.
// Returns the number of BNs folded.
int fold_batchnorm(Graph& g);
}  // namespace hilsim::graph::passes
