// Timing kernel instances of the grid on this machine: the real prepared kernels of hilsim_kernels,
// called directly (no executor, no graph), so the same runner works in the CLI and in the standalone
// calibrator built for phones. Samples carry kernel_features' features and fit with `hilsim fit`.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/driver.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/calibration/samples.h"

namespace hilsim::calibration {

struct RunnerOptions {
  double min_time_s = 0.02;   // timed calls of one sample, after warm-up
  double max_time_s = 0.5;    // and never more than this
  int min_reps = 5, max_reps = 300;
  double stable_spread = CalibrationPolicy{}.stable_spread;  // p90 / p10 at or below which a series is stable
  int64_t cold_bytes = CalibrationPolicy{}.cold_round_bytes;  // what the rotating copies add up to (> private caches)
  std::vector<int> cpus;      // pin the pool's threads (empty: let the OS place them)
};

// One timed series (`series` fills per-call ms); a series whose p90/p10 is above `stable_spread` is
// measured once more and the steadier one kept.
std::vector<double> steadier_series(const std::function<void(std::vector<double>&)>& series, double stable_spread);
// A sample of class `klass` with `features` (plus its thread count) timed as `t` (median, p10, p90).
Sample series_sample(const std::string& klass, const std::string& instance, std::map<std::string, double> features,
                     int threads, const std::vector<double>& t);
// The same for kernel instance `k`: its class and features.
Sample timed_sample(const model::KernelInstance& k, const std::string& instance, int threads, const std::vector<double>& t);

// Prepares the point's kernel once (as many independent copies as it takes for their working sets to
// exceed `cold_bytes`, up to 16: a layer inside a model does not find its weights in a warm cache),
// warms up, then times calls round-robin until the series is stable or a limit is reached; a series
// whose p90/p10 is above stable_spread is measured once more and the steadier one kept.
Sample run_point(const KernelPoint& p, const RunnerOptions& o = {});

// Fixed kernel points prepared once and run one after another on one thread, timed as a whole: the
// speed reference's workload (speed_reference.h), graph-free so that the standalone calibrator for
// phones takes the same readings as `hilsim calibrate`.
class KernelSequence {
 public:
  // The points' kernels split over `threads` (a pool of that size), one after another.
  explicit KernelSequence(const std::vector<KernelPoint>& points, int threads = 1);
  ~KernelSequence();
  KernelSequence(const KernelSequence&) = delete;
  KernelSequence& operator=(const KernelSequence&) = delete;
  std::vector<double> time(int runs);  // one warm-up pass, then `runs` passes: ms of each

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// One hand-off of a tensor of `bytes` between two threads pinned to cores a and b: the producer
// writes it and raises an atomic flag, the consumer waits for the flag and reads it all. Class
// "transfer", features bytes and call.
Sample run_transfer(int64_t bytes, int core_a, int core_b);

// Linear-interpolated quantile q in [0, 1] of v (0 for an empty v).
double quantile(std::vector<double> v, double q);

// The kernel-direct measurement backend: each grid point on its prepared kernel (run_point), real
// layers from the built-in table (reference_layers).
class KernelBackend : public MeasureBackend {
 public:
  KernelBackend(const RunnerOptions& runner, const CalibrationPolicy& policy) : runner_(runner), policy_(policy) {}
  Sample measure(const KernelPoint& p) override { return run_point(p, runner_); }
  std::vector<KernelPoint> real_layers(const std::vector<std::string>& classes, int threads) override {
    return reference_layers(classes, threads, policy_);
  }

 private:
  RunnerOptions runner_;
  CalibrationPolicy policy_;
};

// The standalone calibrator's whole measurement on the kernel backend: ceilings, grid, adaptive rounds.
// A tiny run also shortens each sample's timing (emulators run ~100x slower).
CalibrationDriver::Result calibrate_kernels(const DriverOptions& o, const RunnerOptions& runner = {});

}  // namespace hilsim::calibration
