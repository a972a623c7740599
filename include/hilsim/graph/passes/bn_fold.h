#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// Folds BatchNormalization into the preceding Conv/Gemm when that conv's output feeds only the BN.
// Returns the number of BNs folded.
int fold_batchnorm(Graph& g);
// Folds a standalone inference BatchNormalization into the Conv that alone reads it, when that conv has
// no padding: conv(W, s*x + t) = conv(W*s, x) + sum(W*t). With padding the border taps read zeros, not
// t, and the fold would be wrong there, so those stay. Returns the names of the BN ops removed.
std::vector<std::string> fold_batchnorm_into_next_conv(Graph& g);
}  // namespace hilsim::graph::passes
