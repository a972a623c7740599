// From the CLI's/API's words (threads, --sparsity, --plan, --units) to ExecOptions, with the
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
};

// Per-op settings of a plan file: {"version":1, "ops": {NAME: {"format":..., "unit":...}, ...}}.
SparsitySpec load_plan_layers(const std::string& path);

ExecOptions make_exec_options(const RunConfigRequest& req);

}  // namespace hilsim::runtime
