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
  // "cpu": hilsim's CPU kernels on `cpus`. "gpu": the OpenCL device; `cpus` then holds the host thread
  // that drives it and, when the device is PoCL on this machine's cores, PoCL's own threads.
  std::string kind = "cpu";
};

// "cpu0:0,cpu1:1" or "big:0-1;little:2" → units. A unit whose name starts with "gpu" is the OpenCL
// device: "cpu0:0,gpu:1" (driven from core 1) or plain "gpu" (not pinned); at most one. Throws
// hilsim::Error naming the bad part, or a core the machine lacks (checked against `available_cores`,
// 0 = this machine's count). Whether an OpenCL device exists is checked when the executor is built.
std::vector<UnitDef> parse_units(const std::string& spec, int available_cores = 0);

}  // namespace hilsim::runtime
