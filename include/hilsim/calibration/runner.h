// Timing kernel instances of the grid on this machine: the real prepared kernels of hilsim_kernels,
// called directly (no executor, no graph), so the same runner works in the CLI and in the standalone
// calibrator built for phones. Samples carry kernel_features' features and fit with `hilsim fit`.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
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

struct KernelCalibrationOptions {
  std::string samples_path;          // checkpoint and result (written atomically)
  double budget_s = 120;
  bool resume = false;               // continue from samples_path, skipping measured instances
  std::vector<std::string> classes;  // empty = every grid class and transfer
  int max_threads = 0;               // 0 = all cores
  bool reference_layers = true;      // add the built-in real layer shapes to the design
  bool tiny = false;                 // a few small points per class (emulators, smoke tests)
  std::string note;                  // recorded in the samples file
  RunnerOptions runner;
  CalibrationPolicy policy;          // reading interval, design share (calibration_policy.h)
  int checkpoint_every = 8;          // samples between checkpoints
  std::function<void(double done, double total, const std::string& what)> progress;
  const std::atomic<bool>* stop = nullptr;  // raised by a signal handler: checkpoint and return
};

struct KernelCalibrationResult {
  SampleSet samples;
  double wall_s = 0;
  bool interrupted = false;
  int measured = 0;  // samples taken by this run (resumed ones excluded)
  int adaptive = 0;  // of which added by the adaptive rounds
};

// The whole measurement: roofline (stream bandwidth, peak GEMM FLOP/s), transfers, the initial design
// (space-filling points + reference layers per class and thread count), then adaptive rounds that
// add points where held-out relative error is largest, until the budget is spent.
KernelCalibrationResult calibrate_kernels(const KernelCalibrationOptions& o);

// Held-out error of one class/thread group: every 4th sample is left out of the fit and predicted.
// Returns the RMSPE (%) on those and the index (into `samples`) of the worst one, -1 when too few.
double held_out_rmspe(const std::vector<Sample>& samples, const std::vector<std::string>& features, int* worst);

}  // namespace hilsim::calibration
