// Emit and validate: the plan turned into deliverables (the pruned model as ONNX with zeros in place,
// the packed weights, the plan), then checked on this machine — numerics against the reference
// executor on the pruned ONNX, measured latency against the plan's prediction and target.
#pragma once

#include <string>

#include "hilsim/model/profile.h"
#include "hilsim/graph/graph.h"
#include "hilsim/partition/packed_model.h"
#include "hilsim/partition/planner.h"
#include "hilsim/runtime/executor.h"

namespace hilsim::partition {

// One sparse layer's mask as emit applies it: per weight of the canonical conv (OIHW, BN folded in),
// 1 = kept. The weights BN folding scales keep their positions, so the mask also fits the unfolded conv.
struct LayerMask {
  std::string op, label;               // canonical op name; the format's name, e.g. "block8x4"
  std::vector<int64_t> shape;          // OIHW
  std::vector<uint8_t> keep;
  double kept_saliency = 1;
};

// The masks of a plan's sparse layers, from the model's real weights by the kernels' mask library:
// exactly what emit_model zeros. Throws Error when the plan was made for another model.
std::vector<LayerMask> plan_masks(const graph::Graph& model, const Plan& plan);

struct EmitResult {
  graph::Graph pruned;  // canonical graph, pruned weights in place
  PackedModel packed;
};

// Throws Error when the plan was made for another model (fingerprint, op names or shapes differ).
EmitResult emit_model(const graph::Graph& model, const Plan& plan);
// Writes DIR/model.onnx, DIR/weights.hpk and DIR/plan.json.
void write_emitted(const EmitResult& r, const Plan& plan, const std::string& dir);

struct Validation {
  double max_abs_err = 0, max_rel_err = 0;
  bool numerics_ok = false;
  double measured_ms = 0, measured_p10 = 0, measured_p90 = 0;
  double predicted_ms = 0, target_ms = 0;
  int packed_convs = 0;
};
// Executor options that run `packed`'s convs from their packed rows on `threads` threads: the packed
// file, not a guess from the weights, says what runs sparse.
runtime::ExecOptions packed_exec_options(const PackedModel& packed, int threads);

Validation validate_emitted(const std::string& dir, const model::Profile* profile, int repeat);

}  // namespace hilsim::partition
