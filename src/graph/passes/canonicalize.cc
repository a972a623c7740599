#include "hilsim/graph/passes/canonicalize.h"

#include "hilsim/graph/passes/bn_fold.h"
#include "hilsim/graph/passes/fusion.h"
#include "hilsim/graph/passes/reparam.h"
#include "hilsim/graph/shape_inference.h"

namespace hilsim::graph::passes {

CanonicalStats canonicalize(Graph& g) {
  CanonicalStats s;
  s.reparameterized_adds = reparameterize(g);
  s.folded_batchnorms = fold_batchnorm(g);
  s.fused_activations = fuse_activations(g);
  infer_shapes(g);
  return s;
}

}  // namespace hilsim::graph::passes
