// The numerical ground truth of hilsim: naive, obviously correct fp32 loops for every supported op,
// walked in topological order. Every kernel, pass and emitted model is checked against it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::runtime {

using TensorMap = std::map<std::string, graph::Tensor>;

// Runs g on `inputs` (by graph input name) and returns the graph outputs. Honours Op::fused.
TensorMap run_reference(const graph::Graph& g, const TensorMap& inputs);

// The op types the reference executor implements, sorted; keyed by the op registry's names.
std::vector<std::string> reference_op_types();
// Deterministic random inputs for every graph input (uniform in [-1, 1]).
TensorMap random_inputs(const graph::Graph& g, uint64_t seed = 7);
// The acceptance measure of every numerical test: max |a - b| / max(floor, max |b|), i.e. the largest
// error relative to the tensor's scale (near-zero elements do not explode it). Shape mismatch or a
// NaN in one only gives infinity.
double max_rel_error(const graph::Tensor& a, const graph::Tensor& b, double floor = 1e-3);

}  // namespace hilsim::runtime
