#include "hilsim/runtime/run_config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/passes/bn_fold.h"
#include "hilsim/graph/passes/fusion.h"
#include "hilsim/graph/passes/gelu_fusion.h"
#include "hilsim/graph/passes/pad_fold.h"
#include "hilsim/graph/passes/reparam.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

SparsitySpec load_plan_layers(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path, "cannot open the plan file");
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    throw Error(path, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("version")) throw Error(path + ": field 'version'", "missing (not a hilsim plan)");
  if (!j["version"].is_number_integer() || j["version"].get<int>() != 1)
    throw Error(path + ": field 'version'", "unsupported plan version (this hilsim reads version 1)");
  if (!j.contains("ops") || !j["ops"].is_object()) throw Error(path + ": field 'ops'", "missing or not an object");
  nlohmann::json ops = nlohmann::json::object();
  for (auto& [name, v] : j["ops"].items()) {
    if (!v.is_object()) throw Error(path + ": field 'ops." + name + "'", "not an object");
    nlohmann::json l = nlohmann::json::object();
    for (const char* k : {"format", "block", "ratio", "entries", "unit"})
      if (v.contains(k)) l[k] = v[k];
    ops[name] = l;
  }
  return parse_sparsity_json(ops.dump(), path + ": ops");
}

std::map<std::string, std::string> split_branches(const graph::Graph& g0, const std::vector<UnitDef>& units) {
  // Work on the canonical graph: that is what the executor runs.
  graph::Graph g = g0;
  graph::passes::reparameterize(g);
  graph::passes::fold_batchnorm(g);
  graph::passes::fold_batchnorm_into_next_conv(g);
  graph::passes::fold_pads_into_convs(g);
  graph::passes::fuse_gelu(g);
  graph::passes::fuse_activations(g);
  std::map<std::string, std::string> assign;
  if (units.size() < 2) return assign;
  // Rough cost in microseconds: 50 GMAC/s and 10 GB/s; a crossing costs 15 us plus its bytes.
  const double kMacPerUs = 50e3, kBytePerUs = 10e3, kCrossUs = 15.0;
  std::vector<double> unit_free(units.size(), 0.0);
  std::map<std::string, std::pair<int, double>> tensor_at;  // tensor -> (unit, ready time)
  for (graph::OpId id : g.topological_order()) {
    const graph::Op& op = g.op(id);
    const analysis::OpFacts f = analysis::analyze_op(g, id);
    const double cost = static_cast<double>(f.macs) / kMacPerUs +
                        static_cast<double>(f.bytes_read + f.bytes_written) / kBytePerUs;
    int best = 0;
    double best_finish = 1e300;
    for (size_t u = 0; u < units.size(); ++u) {
      double ready = unit_free[u];
      for (const auto& in : op.inputs) {
        auto it = tensor_at.find(in);
        if (it == tensor_at.end()) continue;
        double t = it->second.second;
        if (it->second.first != static_cast<int>(u)) {
          const graph::TensorInfo* ti = g.tensor_info(in);
          const double bytes = ti && ti->known ? static_cast<double>(graph::numel(ti->shape)) * 4.0 : 0.0;
          t += kCrossUs + bytes / kBytePerUs;
        }
        ready = std::max(ready, t);
      }
      if (ready + cost < best_finish - 1e-9) {
        best_finish = ready + cost;
        best = static_cast<int>(u);
      }
    }
    unit_free[best] = best_finish;
    for (const auto& o : op.outputs) tensor_at[o] = {best, best_finish};
    assign[op.name] = units[best].id;
  }
  return assign;
}

ExecOptions make_exec_options(const graph::Graph& g, const RunConfigRequest& req) {
  ExecOptions o;
  o.threads = std::max(1, req.threads);
  if (!req.sparsity.empty() && !req.plan_path.empty())
    throw Error("--sparsity/--plan", "give one of them, not both");
  if (!req.sparsity.empty()) o.sparsity = parse_sparsity_spec(req.sparsity);
  if (!req.plan_path.empty()) o.sparsity = load_plan_layers(req.plan_path);
  if (!req.units.empty()) o.units = parse_units(req.units);
  for (const auto& [name, ls] : o.sparsity.layers) {
    if (ls.unit.empty()) continue;
    if (o.units.empty()) throw Error("op '" + name + "'", "assigned to unit '" + ls.unit + "' but no --units were given");
    o.op_unit[name] = ls.unit;
  }
  if (!req.split.empty()) {
    if (req.split != "branches") throw Error("--split", "unknown mode '" + req.split + "' (known: branches)");
    if (o.units.size() < 2) throw Error("--split", "needs --units with at least two units");
    o.op_unit = split_branches(g, o.units);
  }
  return o;
}

}  // namespace hilsim::runtime
