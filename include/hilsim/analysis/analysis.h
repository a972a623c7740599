// Per-op facts of a graph: exact MACs, parameters, bytes read/written (fp32), arithmetic intensity,
// output shape; totals and the peak activation memory of the topological order (tensors freed after
// their last use).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::analysis {

struct OpFacts {
  std::string name;
  std::string type;
  int64_t macs = 0;
  int64_t params = 0;
  int64_t bytes_read = 0;     // activations + weights read
  int64_t bytes_written = 0;  // outputs written
  double intensity = 0.0;     // FLOPs (2 x MACs) per byte moved
  graph::Shape out_shape;
  bool unknown = false;       // imported with --allow-unknown
};

struct ModelFacts {
  std::vector<OpFacts> ops;   // in topological order
  int64_t macs = 0;
  int64_t params = 0;
  int64_t bytes = 0;          // read + written
  int64_t peak_activation_bytes = 0;
};

OpFacts analyze_op(const graph::Graph& g, graph::OpId id);
// Peak bytes of live activations (graph inputs included, constants excluded) when ops run in `order`
// and every tensor is freed after its last reader; graph outputs live to the end.
int64_t peak_activation_bytes(const graph::Graph& g, const std::vector<graph::OpId>& order);
ModelFacts analyze(const graph::Graph& g);

}  // namespace hilsim::analysis
