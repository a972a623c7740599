#include "hilsim/graph/passes/canonicalize.h"

#include <algorithm>

#include "hilsim/graph/passes/bn_fold.h"
#include "hilsim/graph/passes/fusion.h"
#include "hilsim/graph/passes/gelu_fusion.h"
#include "hilsim/graph/passes/layer_norm_fusion.h"
#include "hilsim/graph/passes/pad_fold.h"
#include "hilsim/graph/passes/reparam.h"
#include "hilsim/graph/shape_inference.h"

namespace hilsim::graph::passes {

namespace {

// Exports made in training mode give Dropout a bool mask output that nothing reads; inference drops
// it, so the executor (fp32 activations only) does not have to hold it.
void drop_unread_dropout_masks(Graph& g) {
  for (OpId id = 0; id < g.num_ops(); ++id) {
    const Op& op = g.op(id);
    if (op.type != "Dropout" || op.outputs.size() < 2 || op.outputs[1].empty()) continue;
    const std::string& mask = op.outputs[1];
    if (!g.consumers(mask).empty()) continue;
    if (std::find(g.outputs().begin(), g.outputs().end(), mask) != g.outputs().end()) continue;
    g.mutable_op(id).outputs.resize(1);
  }
}

}  // namespace

CanonicalStats canonicalize(Graph& g) {
  CanonicalStats s;
  drop_unread_dropout_masks(g);
  auto folded = [&s](const std::vector<std::string>& names) {
    s.folded_away.insert(s.folded_away.end(), names.begin(), names.end());
    return static_cast<int>(names.size());
  };
  s.reparameterized_adds = reparameterize(g);
  s.folded_batchnorms = fold_batchnorm(g);
  s.folded_batchnorms += folded(fold_batchnorm_into_next_conv(g));
  s.folded_pads = folded(fold_pads_into_convs(g));
  s.fused_gelus = folded(fuse_gelu(g)) / 4;  // four of its five nodes go, the last becomes the Gelu
  s.fused_gelus += folded(fuse_gelu_tanh(g)) / 8;  // eight of nine
  std::vector<std::string> ln_parts;
  s.fused_layer_norms = fuse_layer_norm(g, &ln_parts);
  folded(ln_parts);
  s.fused_activations = fuse_activations(g);
  infer_shapes(g);
  return s;
}

}  // namespace hilsim::graph::passes
