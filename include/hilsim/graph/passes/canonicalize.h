#pragma once
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// What the canonical pipeline changed, pass by pass.
struct CanonicalStats {
  int reparameterized_adds = 0;
  int folded_batchnorms = 0;         // into the conv before them, and into an unpadded conv after them
  int folded_pads = 0;               // zero pads into the conv or average pool that alone reads them
  int fused_gelus = 0;               // five exported nodes become one Gelu
  int fused_layer_norms = 0;         // the pre-opset-17 chain becomes one LayerNormalization
  int fused_activations = 0;
  // Ops that no longer exist on their own (folded into a neighbour or merged into a fused node): a plan
  // or unit assignment made on the imported graph may still name them.
  std::vector<std::string> folded_away;
};
// The one pass pipeline every consumer runs (executor, predictor, emitter, calibration, planner, inspect):
// re-parameterise branches, fold BN and zero pads into convs, merge exported GELU and layer norm into
// one node each, fuse activations into kernel instances, infer shapes. The executor runs what the
// predictor predicts only because both canonicalise the same way, so a new pass goes here and nowhere else.
CanonicalStats canonicalize(Graph& g);
}  // namespace hilsim::graph::passes
