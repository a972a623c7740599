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
  std::vector<int> cpus;  // pin the pool's threads (empty: let the OS place them)
};

// One sample's timed rounds, in both backends alike: two warm-up rounds, then at least the policy's
// sample_min_rounds and on until sample_min_time_s, at most sample_max_rounds. `round` appends the
// ms of each call it times.
void timed_rounds(const std::function<void(std::vector<double>&)>& round, const CalibrationPolicy& policy,
                  std::vector<double>& t);

// One timed series (`series` fills per-call ms); a series whose p90/p10 is above `stable_spread` is
// measured once more and the steadier one kept.
std::vector<double> steadier_series(const std::function<void(std::vector<double>&)>& series, double stable_spread);
// A sample of class `klass` with `features` (plus its thread count) timed as `t` (median, p10, p90).
Sample series_sample(const std::string& klass, const std::string& instance, std::map<std::string, double> features,
                     int threads, const std::vector<double>& t);
// The same for kernel instance `k`: its class and features.
Sample timed_sample(const model::KernelInstance& k, const std::string& instance, int threads, const std::vector<double>& t);

// Prepares the point's kernel once (round_copies() independent copies: a layer inside a model does
// not find its weights in a warm cache), writes each copy's input just before it runs (as its
// producer would) and times timed_rounds(); a series whose p90/p10 is above the policy's
// stable_spread is measured once more and the steadier one kept.
Sample run_point(const KernelPoint& p, const RunnerOptions& o = {}, const CalibrationPolicy& policy = {});

// Layers in context without an executor: the run's context_layers() prepared once and run one after
// another (each input written just before its layer, as its producer would), two warm-up passes, then
// `repeats` passes; one sample per layer (instance r.key() + "/L" + index), the median over passes.
std::vector<Sample> run_context(const ContextRun& r, const RunnerOptions& o = {}, int repeats = 7);

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

// Deterministic values in [-1, 1): a point's weights (seed), bias (seed + 1) and inputs. Both backends
// fill a conv's weights from it (copy i at seed 17 + i), so their masks, which rank weights by
// magnitude, keep the same blocks.
std::vector<float> random_floats(size_t n, uint64_t seed);

// Linear-interpolated quantile q in [0, 1] of v (0 for an empty v).
double quantile(std::vector<double> v, double q);

// The kernel-direct measurement backend: each grid point on its prepared kernel (run_point), real
// layers from the built-in table (reference_layers), in-context runs of the families that table holds.
// It has no executor, so it measures no "dispatch" (the executor's own per-op cost); its in-context
// runs time the tables' pools, adds, concats, resizes and copies between the convs, as the executor's do.
class KernelBackend : public MeasureBackend {
 public:
  KernelBackend(const RunnerOptions& runner, const CalibrationPolicy& policy) : runner_(runner), policy_(policy) {}
  Sample measure(const KernelPoint& p) override { return run_point(p, runner_, policy_); }
  std::vector<KernelPoint> real_layers(const std::vector<std::string>& classes, int threads) override {
    return reference_layers(classes, threads, policy_);
  }
  bool runs_in_context(const ContextRun& r) override { return !context_layers(r).empty(); }
  std::vector<Sample> measure_context(const ContextRun& r, const std::vector<std::string>& classes, int repeats) override;

 private:
  RunnerOptions runner_;
  CalibrationPolicy policy_;
};

// The standalone calibrator's whole measurement on the kernel backend, in the CLI's order: ceilings,
// layers in context, grid, adaptive rounds. A tiny run also shortens each sample (emulators run ~100x slower).
CalibrationDriver::Result calibrate_kernels(const DriverOptions& o, const RunnerOptions& runner = {});

}  // namespace hilsim::calibration
