#include "hilsim/runtime/run_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/json_parse.h"

namespace hilsim::runtime {

SparsitySpec load_plan_layers(const std::string& path) {
  nlohmann::json j = parse_json(read_file(path, "cannot open the plan file"), path);
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

ExecOptions make_exec_options(const RunConfigRequest& req) {
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
  return o;
}

}  // namespace hilsim::runtime
