// From the CLI's/API's words (threads, --sparsity, --plan, --units, --split) to ExecOptions, with the
// checks that make bad input an error naming the flag, file or op.
#pragma once

#include <map>
#include <string>

#include "hilsim/graph/graph.h"
#include "hilsim/runtime/executor.h"

namespace hilsim::runtime {

struct RunConfigRequest {
  int threads = 1;
  std::string sparsity;   // SPEC or JSON file
  std::string plan_path;  // plan.json (its per-op section is a sparsity map with units)
  std::string units;      // "cpu0:0,cpu1:1"
  std::string split;      // "" or "branches"
};

// Per-op settings of a plan file: {"version":1, "ops": {NAME: {"format":..., "unit":...}, ...}}.
SparsitySpec load_plan_layers(const std::string& path);

// Assigns ops to units so that independent branches run concurrently: earliest-finish-time list
// scheduling with a MAC/byte cost estimate and a fixed hand-off penalty per crossing tensor.
std::map<std::string, std::string> split_branches(const graph::Graph& g, const std::vector<UnitDef>& units);

ExecOptions make_exec_options(const graph::Graph& g, const RunConfigRequest& req);

}  // namespace hilsim::runtime
