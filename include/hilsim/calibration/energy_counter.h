// Energy meters: the best counter a device has, read while benchmarks run. RAPL counts energy
// directly; Android's battery and Jetson's INA3221 report power, which a sampler integrates.
// Where nothing exists (a VM, most CI machines) find_energy_counter() returns null and the profile
// gets estimated coefficients marked source "estimate" — never passed off as measured.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hilsim::calibration {

class EnergyCounter {
 public:
  virtual ~EnergyCounter() = default;
  virtual std::string source() const = 0;       // "rapl" | "sysfs" | "ina" | "nvml"
  virtual std::string description() const = 0;  // the files it reads
  virtual void start() = 0;
  virtual double stop_joules() = 0;             // energy since start()
};

// Probes, in order: RAPL (powercap), Jetson INA3221, Android power_supply. `root` is "/" or a fake
// tree in tests. NVML is not probed: hilsim does not link NVIDIA's library (documented gap).
std::unique_ptr<EnergyCounter> find_energy_counter(const std::string& root = "/");

// Difference of two readings of a wrapping counter with range `max_range` (RAPL's energy_uj wraps).
uint64_t wrapped_delta(uint64_t before, uint64_t after, uint64_t max_range);

// Trapezoidal integral of (seconds, watts) samples, in joules.
double integrate_power(const std::vector<std::pair<double, double>>& samples);

}  // namespace hilsim::calibration
