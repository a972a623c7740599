// The one calibration pipeline: what to measure and in which order (the roofline ceilings, transfers,
// the designed grid, adaptive rounds where the fit is worst), with checkpoints, resume, speed-reference
// readings and waiting out the host's slow phases. How a grid point is timed is the backend's:
// `hilsim calibrate` times each point through the executor (calibrator.h), the standalone calibrator
// for phones calls the prepared kernel directly (runner.h). Both write the same samples file, which
// `fit_profile` turns into a profile.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/calibration/samples.h"

namespace hilsim::calibration {

// How one grid point is timed, and which real layer shapes this way of timing can add to the design.
class MeasureBackend {
 public:
  virtual ~MeasureBackend() = default;
  virtual Sample measure(const KernelPoint& p) = 0;
  // Real layers of common networks as points of `classes` (the executor takes them from the zoo's
  // graphs; a phone, which has no graphs, from a built-in table).
  virtual std::vector<KernelPoint> real_layers(const std::vector<std::string>& classes, int threads) = 0;
  // Layers in context (grid.h): one sample per layer of the run whose class is in `classes` (empty:
  // all) over `repeats` passes, instances "ctx/...". A backend says which runs it can time (none by default).
  virtual bool runs_in_context(const ContextRun&) { return false; }
  virtual std::vector<Sample> measure_context(const ContextRun&, const std::vector<std::string>&, int /*repeats*/) {
    return {};
  }
};

struct DriverOptions {
  std::string samples_path;          // checkpoint and result (written atomically)
  double budget_s = 120;
  bool resume = false;               // continue from samples_path, skipping measured instances
  std::vector<std::string> classes;  // empty = every class and transfer
  int max_threads = 0;               // 0 = all cores
  bool real_layers = true;           // add the backend's real layer shapes to the design
  bool tiny = false;                 // a few small points per class, no waiting (emulators, smoke tests)
  bool gpu_unit = false;             // the samples are the gpu unit's (CLASS/gpu terms, model::gpu_feature_names)
  std::string note;                  // recorded in the samples file
  CalibrationPolicy policy;
  int checkpoint_every = 10;         // samples between checkpoints
  std::function<void(double done, double total, const std::string& what)> progress;
  const std::atomic<bool>* stop = nullptr;  // raised by a signal handler: checkpoint and return
};

// One calibration run. Construction checks the options (classes named, the samples file's directory
// writable), resumes and takes the first speed-reference reading; then the phases run in the order
// the caller wants, and finish() takes the last reading and writes the samples.
class CalibrationDriver {
 public:
  CalibrationDriver(MeasureBackend& backend, const DriverOptions& o);
  ~CalibrationDriver();

  // Roofline ceilings (stream bandwidth, peak FLOP/s per thread count), energy where a counter
  // exists, and core-to-core transfers: quick, and every profile needs them.
  void measure_ceilings();
  // Layers in context (context_runs(), what whole-model predictions are made of), each started in a
  // fast phase of the host: the first of the policy's context_visits, until its share of context_share
  // of the budget is spent. None in a tiny run.
  void measure_context();
  // The later visits of the runs measure_context() timed, in the same order, as far as the budget
  // goes: each layer's sample keeps the faster visit (merge_sample). Call after the grid.
  void revisit_context();
  // The space-filling design interleaved with real layers, round-robin over (class, threads) so a
  // budget cut leaves every cell some samples; it gets the policy's design_share of the budget left,
  // split over its grid_visits.
  void measure_grid();
  // The later visits of the points measure_grid() timed, in the same order, as far as the budget goes:
  // each keeps its faster visit. Call after revisit_context(), so that the visits lie far apart.
  void revisit_grid();
  // Times again, both twins, the conv and GEMM points whose speed-up on all threads strays far from
  // their class's (policy.twin_recheck_*): one slow phase on the second core had made a class's only
  // point of its kind an outlier the fit followed. Call after the grid, before the adaptive rounds.
  void recheck_twins();
  // Adaptive rounds (nn-Meter) until the budget ends: the cell whose held-out error is worst gets new
  // design points and neighbours of its worst-predicted instance.
  void measure_adaptive();

  // For phases of the caller's own.
  bool done(const std::string& instance) const { return done_.count(instance) > 0; }
  void mark_done(const std::string& instance) { done_.insert(instance); }
  void add(Sample s);                // stamps t_unix if missing, checkpoints, reports progress
  void reading_if_due();             // a short reading every policy.reading_every_s (and a wait if slow)
  void reading_then_wait();          // a short reading now, then wait out a slow phase
  double elapsed_s() const;
  double budget_s() const { return o_.budget_s; }
  bool stopped() const { return o_.stop && o_.stop->load(); }
  const std::vector<std::string>& classes() const { return classes_; }
  int max_threads() const { return max_threads_; }
  void progress(const std::string& what) const;

  struct Result {
    SampleSet samples;
    double wall_s = 0, waited_s = 0;  // of which spent waiting out the host's slow phases
    bool interrupted = false;
    int measured = 0;  // samples taken by this run (resumed ones excluded)
    int adaptive = 0;  // of which added by the adaptive rounds
    int rechecked = 0;  // pairs of thread-count twins timed again (recheck_twins)
  };
  Result finish();
  // Every phase in the one order both calibrators use (ceilings, context, grid, the revisits, twin
  // rechecks, adaptive rounds), then finish().
  Result run();

 private:
  struct Readings;
  void take_reading(int runs);
  bool in_slow_phase() const;
  void wait_for_fast_phase();
  void measure_point(const KernelPoint& p);
  void checkpoint();
  void add_context_run(const ContextRun& cr, int repeats);
  int context_repeats_per_visit() const;

  MeasureBackend& backend_;
  DriverOptions o_;
  CalibrationPolicy pol_;  // the options' policy, with the caps of a tiny run
  std::vector<std::string> classes_;
  bool want_transfer_ = false;
  int cores_ = 1, max_threads_ = 1;
  std::vector<std::pair<std::string, int>> cells_;
  std::set<std::string> done_;
  std::map<std::string, KernelPoint> known_;  // instance -> point, for neighbours of bad points
  std::map<std::string, size_t> index_;       // instance -> its sample, for later visits
  std::vector<ContextRun> visited_;           // the context runs of the first visit, in order
  std::vector<KernelPoint> grid_visited_;     // the grid points of the first visit, in order
  double context_visit_s_ = 0;                // what the first visit took
  std::unique_ptr<Readings> readings_;
  Result r_;
  int since_save_ = 0;
};

// Two timings of one instance, taken at different times: the one with the lower fit_ms (the host's
// faster phase: a burst only ever adds time), its repeats the sum of both.
Sample merge_sample(const Sample& a, const Sample& b);

// Held-out error of one class/thread group: every 4th sample is left out of the fit and predicted.
// Returns the RMSPE (%) on those and the index (into `samples`) of the worst one, -1 when too few.
double held_out_rmspe(const std::vector<Sample>& samples, const std::vector<std::string>& features, int* worst,
                      const CalibrationPolicy& policy = {});

}  // namespace hilsim::calibration
