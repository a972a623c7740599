#pragma once
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// What the canonical pipeline changed, pass by pass.
struct CanonicalStats {
  int reparameterized_adds = 0;
  int folded_batchnorms = 0;
  int fused_activations = 0;
};
// The one pass pipeline every consumer runs (executor, predictor, emitter, calibration, planner, inspect):
// re-parameterise branches, fold BN into convs, fuse activations into kernel instances, infer shapes.
// The executor runs what the predictor predicts only because both canonicalise the same way, so a
// new pass goes here and nowhere else.
CanonicalStats canonicalize(Graph& g);
}  // namespace hilsim::graph::passes
