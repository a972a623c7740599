#include "hilsim/partition/emitter.h"

#include <gtest/gtest.h>

#include <map>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"
#include "partition/partition_testing.h"

namespace hilsim::partition {
namespace {

// The masks a Python caller gets are the zeros emit writes: same ops, same positions, and a mask
// that prunes something in every sparse layer.
TEST(PlanMasks, EqualTheZerosEmitWrites) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o = speedup_options(1.5);
  o.formats = {"block", "pattern", "csr"};
  const graph::Graph model = small("resnet18_like");
  const Plan p = make_plan(model, "m", prof, kProfile, o);
  const std::vector<LayerMask> masks = plan_masks(model, p);
  const EmitResult r = emit_model(model, p);
  ASSERT_EQ(masks.size(), r.packed.convs.size());
  ASSERT_GT(masks.size(), 0u);
  std::map<std::string, std::string> labels;
  for (const auto& pc : r.packed.convs) labels[pc.op] = pc.label;
  for (const LayerMask& m : masks) {
    EXPECT_EQ(labels[m.op], m.label) << m.op;
    const graph::Op& op = r.pruned.op(*r.pruned.find_op(m.op));
    const graph::Tensor* w = r.pruned.constant(op.inputs[1]);
    ASSERT_EQ(w->shape, m.shape) << m.op;
    ASSERT_EQ(static_cast<int64_t>(m.keep.size()), w->numel()) << m.op;
    int64_t pruned = 0, mismatched = 0;
    for (size_t i = 0; i < m.keep.size(); ++i) {
      pruned += m.keep[i] == 0;
      mismatched += (m.keep[i] == 0) != (w->f32[i] == 0.0f);
    }
    EXPECT_GT(pruned, 0) << m.op;
    EXPECT_EQ(mismatched, 0) << m.op;
    EXPECT_GT(m.kept_saliency, 0) << m.op;
    EXPECT_LE(m.kept_saliency, 1) << m.op;
  }
}

TEST(PlanMasks, RefuseAnotherModel) {
  const model::Profile prof = model::load_profile(kProfile);
  PlanOptions o = speedup_options(1.3);
  const Plan p = make_plan(small("resnet18_like"), "m", prof, kProfile, o);
  try {
    plan_masks(small("yolov5s_like"), p);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
}

// The weight bytes `predict` reports for a sparse layer are what the prepared kernel holds when the
// emitted model runs and what the packed file stores for it, in every sparse format. The plan keeps
// the planner's facts (fingerprint, op names) with every conv a format can run set to it.
TEST(Emit, PredictedWeightBytesAreWhatTheKernelAndTheFileHold) {
  const model::Profile prof = model::load_profile(kProfile);
  const graph::Graph model = small("resnet18_like");
  const Plan base = make_plan(model, "m", prof, kProfile, speedup_options(1.3));
  costmodel::Predictor pred(model, prof, {1, ""});
  const graph::Graph& g = pred.canonical_graph();
  for (const char* spec : {"block:8x4@0.7", "block_col:8x4@0.7", "pattern:2", "pattern:3", "csr@0.9"}) {
    SCOPED_TRACE(spec);
    const runtime::LayerSparsity ls = *runtime::parse_sparsity_spec(spec).all;
    Plan plan = base;
    for (LayerChoice& l : plan.layers) {
      const auto id = g.find_op(l.op);
      ASSERT_TRUE(id.has_value()) << l.op;
      const bool fits = g.op(*id).type == "Conv" && runtime::format_problem(runtime::conv_shape_of(g, g.op(*id)), ls).empty();
      l.setting = fits ? ls : runtime::LayerSparsity{};
    }
    const EmitResult em = emit_model(model, plan);
    ASSERT_GT(em.packed.convs.size(), 0u) << "no conv takes the format";
    std::map<std::string, int64_t> predicted, prepared;
    for (const auto& op : pred.predict(plan.spec()).ops) predicted[op.name] = op.weight_bytes;
    const runtime::Executor ex(em.pruned, packed_exec_options(em.packed, 1));
    for (const auto& op : ex.ops()) prepared[op.name] = op.weight_bytes;
    for (const PackedConv& pc : em.packed.convs) {
      SCOPED_TRACE(pc.op + " " + pc.label);
      ASSERT_TRUE(predicted.count(pc.op) && prepared.count(pc.op));
      EXPECT_EQ(predicted.at(pc.op), file_weight_bytes(pc));
      EXPECT_EQ(prepared.at(pc.op), file_weight_bytes(pc));
    }
  }
}

}  // namespace
}  // namespace hilsim::partition
