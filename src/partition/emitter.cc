#include "hilsim/partition/emitter.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/sparse_select.h"
#include "hilsim/util/error.h"

namespace hilsim::partition {

namespace {

graph::Graph canonical(const graph::Graph& model) {
  graph::Graph g = model;
  graph::passes::canonicalize(g);
  return g;
}

// Both callers hold the canonical graph already: the fingerprint check and one layer's mask.
void check_fingerprint(const graph::Graph& g, const Plan& plan) {
  const std::string fp = model_fingerprint(g);
  if (fp != plan.fingerprint)
    throw Error("plan for '" + plan.model + "'",
                "was made for another model (fingerprint " + plan.fingerprint + ", this model " + fp +
                    "): op names, weight shapes or the input shape differ");
}

const graph::Op& sparse_conv(const graph::Graph& g, const LayerChoice& l, kernels::ConvShape* cs) {
  auto id = g.find_op(l.op);
  if (!id) throw Error("plan: op '" + l.op + "'", "the model has no such op");
  const graph::Op& op = g.op(*id);
  if (op.type != "Conv") throw Error("plan: op '" + l.op + "'", "only convs take a sparse format");
  *cs = runtime::conv_shape_of(g, op);
  const std::string problem = runtime::format_problem(*cs, l.setting);
  if (!problem.empty()) throw Error("plan: op '" + l.op + "'", problem);
  return op;
}

}  // namespace

std::vector<LayerMask> plan_masks(const graph::Graph& model, const Plan& plan) {
  const graph::Graph g = canonical(model);
  check_fingerprint(g, plan);
  std::vector<LayerMask> out;
  for (const LayerChoice& l : plan.layers) {
    if (l.setting.format == runtime::Format::kDense) continue;
    kernels::ConvShape cs;
    const graph::Op& op = sparse_conv(g, l, &cs);
    const graph::Tensor* w = g.constant(op.inputs[1]);
    runtime::FormatMask fm = runtime::make_format_mask(cs, w->f32.data(), l.setting);
    out.push_back({l.op, fm.label, w->shape, std::move(fm.keep), fm.kept_saliency});
  }
  return out;
}

EmitResult emit_model(const graph::Graph& model, const Plan& plan) {
  EmitResult r;
  r.pruned = canonical(model);
  graph::Graph& g = r.pruned;
  check_fingerprint(g, plan);
  r.packed.fingerprint = plan.fingerprint;
  for (const LayerChoice& l : plan.layers) {
    if (!g.find_op(l.op)) throw Error("plan: op '" + l.op + "'", "the model has no such op");
    if (l.setting.format == runtime::Format::kDense) continue;
    kernels::ConvShape cs;
    const graph::Op& op = sparse_conv(g, l, &cs);
    graph::Tensor* w = g.mutable_constant(op.inputs[1]);
    const runtime::FormatMask fm = runtime::make_format_mask(cs, w->f32.data(), l.setting);
    if (runtime::conv_family(cs, l.setting) != runtime::ConvFamily::kSparse) {  // runs dense: zeros, no rows
      for (size_t i = 0; i < fm.keep.size(); ++i)
        if (!fm.keep[i]) w->f32[i] = 0.0f;
      continue;
    }
    PackedConv pc;
    pc.op = l.op;
    pc.label = fm.label;
    pc.rows = kernels::pack_sparse_rows(cs, w->f32.data(), fm.keep, fm.fb);
    pc.bias.assign(static_cast<size_t>(cs.f), 0.0f);
    if (auto b = op.input(2)) pc.bias = g.constant(*b)->f32;
    for (size_t i = 0; i < fm.keep.size(); ++i)
      if (!fm.keep[i]) w->f32[i] = 0.0f;  // zeros in place: any ONNX tool runs the pruned model
    r.packed.convs.push_back(std::move(pc));
  }
  return r;
}

void write_emitted(const EmitResult& r, const Plan& plan, const std::string& dir) {
  std::filesystem::create_directories(dir);
  graph::export_onnx(r.pruned, dir + "/model.onnx");
  save_packed(r.packed, dir + "/weights.hpk");
  std::ofstream f(dir + "/plan.json");
  if (!f) throw Error(dir + "/plan.json", "cannot write");
  f << plan_to_json(plan) << "\n";
}

runtime::ExecOptions packed_exec_options(const PackedModel& packed, int threads) {
  runtime::ExecOptions eo;
  eo.threads = threads;
  eo.detect_structure = false;
  for (const PackedConv& pc : packed.convs) {
    auto p = std::make_shared<runtime::PrepackedConv>();
    p->rows = pc.rows;
    p->bias = pc.bias;
    p->label = pc.label;
    eo.prepacked[pc.op] = p;
  }
  return eo;
}

Validation validate_emitted(const std::string& dir, const model::Profile* profile, int repeat) {
  Validation v;
  const Plan plan = load_plan(dir + "/plan.json");
  const PackedModel packed = load_packed(dir + "/weights.hpk");
  graph::Graph g = graph::import_onnx(dir + "/model.onnx");
  const graph::Graph cg = canonical(g);
  if (model_fingerprint(cg) != packed.fingerprint || packed.fingerprint != plan.fingerprint)
    throw Error(dir, "model.onnx, weights.hpk and plan.json do not belong together (fingerprints differ)");
  // The fingerprint is the model's: a plan.json of another plan for the same model matches it. The packed
  // convs must be exactly the plan's sparse layers, each packed in the format the plan gives it.
  {
    std::map<std::string, std::string> planned, packed_as;
    for (const LayerChoice& l : plan.layers)
      if (l.setting.format != runtime::Format::kDense) planned[l.op] = runtime::sparse_format_of(l.setting).name();
    for (const PackedConv& pc : packed.convs) packed_as[pc.op] = pc.label;
    for (const auto& [op, label] : planned) {
      auto it = packed_as.find(op);
      if (it == packed_as.end() || it->second != label)
        throw Error(dir + "/plan.json", "does not belong to weights.hpk: the plan gives op '" + op + "' " + label +
                                            ", the packed weights hold " + (it == packed_as.end() ? "it dense" : it->second));
    }
    for (const auto& [op, label] : packed_as)
      if (!planned.count(op))
        throw Error(dir + "/plan.json", "does not belong to weights.hpk: the packed weights hold op '" + op + "' as " +
                                            label + ", the plan keeps it dense");
  }
  runtime::ExecOptions eo = packed_exec_options(packed, plan.threads);
  // Units a split plan placed ops on.
  std::set<std::string> used;
  for (const LayerChoice& l : plan.layers)
    if (!l.setting.unit.empty()) used.insert(l.setting.unit), eo.op_unit[l.op] = l.setting.unit;
  std::string first_unit;  // ops nothing pins run on the executor's first unit
  if (plan.channel_split) {
    const ChannelSplitChoice& c = *plan.channel_split;
    eo.channel_splits[c.op] = {c.unit, c.channels};
    used.insert(c.unit);
    used.insert(c.home);
    first_unit = c.home;
  }
  if (!used.empty()) {
    if (!profile) throw Error("validate", "the plan places ops on units: give --profile to define them");
    for (const auto& u : profile->units)
      if (used.count(u.id)) eo.units.push_back({u.id, u.cpus, u.kind});
    std::stable_partition(eo.units.begin(), eo.units.end(), [&](const runtime::UnitDef& u) { return u.id == first_unit; });
    for (const std::string& id : used)
      if (std::none_of(eo.units.begin(), eo.units.end(), [&](const runtime::UnitDef& u) { return u.id == id; }))
        throw Error("validate", "the plan places ops on unit '" + id + "', which the profile lacks");
  }
  runtime::Executor ex(g, eo);
  v.packed_convs = static_cast<int>(packed.convs.size());
  const runtime::TensorMap in = runtime::random_inputs(g, 5);
  const runtime::TensorMap want = runtime::run_reference(g, in);
  const runtime::TensorMap got = ex.run(in);
  for (const auto& [name, t] : want) {
    const graph::Tensor& o = got.at(name);
    double scale = 1e-3;
    for (float x : t.f32) scale = std::max(scale, static_cast<double>(std::fabs(x)));
    for (size_t i = 0; i < t.f32.size(); ++i)
      v.max_abs_err = std::max(v.max_abs_err, static_cast<double>(std::fabs(o.f32[i] - t.f32[i])));
    v.max_rel_err = std::max(v.max_rel_err, runtime::max_rel_error(o, t));
  }
  v.numerics_ok = v.max_rel_err <= 1e-4;
  const runtime::Measurement m = runtime::measure(ex, in, 3, repeat);
  v.measured_ms = m.ms_median;
  v.measured_p10 = m.ms_p10;
  v.measured_p90 = m.ms_p90;
  v.predicted_ms = plan.predicted.ms;
  v.target_ms = plan.target_ms;
  return v;
}

}  // namespace hilsim::partition
