// List scheduling of a kernel DAG onto a device's units (CPU core groups, GPU), with a transfer +
// synchronisation cost for every tensor that crosses units (YOLObile's GPU/CPU collaboration).
// Units run one kernel at a time; a kernel's duration already includes its intra-op threading.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hilsim/model/profile.h"
#include "hilsim/util/trace.h"

namespace hilsim::costmodel {

struct SimTask {
  std::string name;
  std::string unit;                           // assigned unit id; "" = let the scheduler choose
  std::map<std::string, double> ms_on_unit;   // duration on each unit it may run on
  std::vector<size_t> deps;                   // indices of producer tasks
  std::vector<int64_t> dep_bytes;             // bytes of the tensor from each dep
};

struct SimResult {
  double makespan_ms = 0;
  std::map<std::string, double> busy_ms;      // per unit
  std::vector<std::string> unit;              // chosen unit per task
  std::vector<double> start_ms, end_ms;       // per task
  int transfers = 0;
  int64_t transfer_bytes = 0;
  double transfer_ms = 0;                     // summed transfer + sync time
  std::vector<TraceEvent> trace;              // kernels and transfers, one track per unit
};

// The copy of `bytes` at a transfer figure (its fixed part + bytes at its bandwidth).
double transfer_ms(const model::TransferSpec& t, int64_t bytes);
// One crossing of `bytes` between units: the copy plus the sync term (TransferSpec::sync_us).
double crossing_ms(const model::TransferSpec& t, int64_t bytes);

// How much slower a kernel runs while another unit is busy, as a share of the time they overlap: the
// units share the memory system (and, for PoCL or a CPU cluster, the caches). From the profile's speed
// reference, the same workload on one thread and split over parallel_threads: per-thread efficiency e
// gives 1/e - 1 (0.10-0.11 on the 2-vCPU EPYC, where branch and channel splits of YOLO-style detectors ran
// 14% over a simulation that had each unit at its solo speed). 0 without a parallel reading.
double corun_slowdown(const model::SpeedReference& ref);

// Tasks must be given in a topological order (deps point backwards). Throws Error naming the task
// for an unknown unit or a unit it has no duration for. `corun`: a task's duration grows by this share
// of the time other units are busy during it (those scheduled before it; corun_slowdown); a unit with a
// measured share of its own (model::UnitSpec::corun_share) grows by that instead.
SimResult simulate(const std::vector<SimTask>& tasks, const std::vector<model::UnitSpec>& units, const model::TransferSpec& transfer,
                   bool with_trace = true, double corun = 0.0);

}  // namespace hilsim::costmodel
