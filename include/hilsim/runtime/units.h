// Execution units of the executor: a unit is a group of pinned cores with its own thread pool
// (`cpu0` = core 0, `cpu1` = core 1). On a machine without a GPU this is how a GPU/CPU branch split is
// measured: the units are real, the costs of crossing between them are real.
#pragma once

#include <string>
#include <vector>

namespace hilsim::runtime {

struct UnitDef {
  std::string id;
  std::vector<int> cpus;  // cores the unit's threads are pinned to; its thread count = cpus.size()
};

// "cpu0:0,cpu1:1" or "big:0-1;little:2" → units. Throws hilsim::Error naming the bad part, or a
// core the machine lacks (checked against `available_cores`, 0 = this machine's count).
std::vector<UnitDef> parse_units(const std::string& spec, int available_cores = 0);

}  // namespace hilsim::runtime
