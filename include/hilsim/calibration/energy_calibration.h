// Energy coefficients measured with the device's own counter. Kernels are too short for any counter
// (RAPL updates every ~1 ms, a battery gauge every second), so energy is not measured per kernel but
// on a few workloads whose work is known exactly — idle, register-resident FMAs, a cache-resident
// copy, a DRAM copy — each run long enough for the counter, and the profile's linear energy model
//   joules = pJ/FLOP x FLOPs + pJ/byte x DRAM bytes + pJ/byte(cache) x cache bytes + static W x s
// is fitted to them by non-negative least squares. The samples go into the samples file like any
// other, so `hilsim fit` re-fits them and a phone's calibrator feeds the host's fit.
#pragma once

#include <string>
#include <vector>

#include "hilsim/calibration/energy_counter.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/model/profile.h"

namespace hilsim::calibration {

// Class of energy samples. Features: flops, dram_bytes, cache_bytes, seconds, joules, threads (1);
// ms_* hold the workload's wall time. Instance: "energy/<counter source>/<workload>/<repeat>".
inline constexpr const char* kEnergyClass = "energy";

// The instance of one energy sample; a resumed calibration that finds the first one skips energy.
std::string energy_instance(const std::string& source, const std::string& workload, int repeat);
// Seconds per workload for a calibration of `budget_s`: about 3% of the budget in all, 0.1-0.5 s each.
double energy_seconds_for_budget(double budget_s);

// Runs each workload `repeats` times for about `seconds_each` with the counter started and stopped
// around it, on the calling thread.
std::vector<Sample> measure_energy(EnergyCounter& counter, double seconds_each = 0.5, int repeats = 2);

struct EnergyFit {
  model::EnergySpec spec;  // source = the counter's; basis says how it was fitted
  double rmspe = 0;            // relative error of the fit over its samples, %
  int samples = 0;
};

// Fits the energy model to the "energy" samples among `samples`. Returns false (and leaves `out`
// alone) when there are fewer than four usable ones, or they come from different or unknown
// counters; then `why_not`, if given, says which of these it was, in words for the profile's basis.
bool fit_energy(const std::vector<Sample>& samples, EnergyFit* out, std::string* why_not = nullptr);

}  // namespace hilsim::calibration
