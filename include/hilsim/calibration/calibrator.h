// Calibration of this machine: every kernel class the runtime has, measured over a designed grid of
// layer shapes through the executor itself (so a sample times exactly what `hilsim run` times per op),
// fitted per class and thread count into a device profile. Samples are checkpointed as they come, so
// an interrupted calibration resumes; adaptive rounds add samples where the fit is worst (nn-Meter).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/model/profile.h"
#include "hilsim/graph/graph.h"
#include "hilsim/runtime/units.h"

namespace hilsim::calibration {

// A grid point as a one-layer model for the executor: `copies` independent instances (own inputs and
// weights, convs named L0, L1, ...): timing them in turn keeps each one's weights out of the private
// caches, as it is inside a whole model. Every input is written by a Relu just before its consumer
// runs, as a layer's producer writes it in a model.
graph::Graph layer_graph(const KernelPoint& p, uint64_t seed, int copies = 1);

struct MeasureOptions {
  CalibrationPolicy policy;  // copies per round, timed rounds, stable spread (as the kernel backend's)
  // Time the point on the gpu unit (every op of its graph on the device, the target's own copies left
  // out: crossings are calibrated apart, calibration/crossing.h) rather than on `threads` CPU cores.
  std::optional<runtime::UnitDef> gpu;
};
// Times a point on this machine (timed_rounds of runner.h; a sample whose p90/p10 spread is
// above the policy's stable_spread is measured again and the steadier run kept). Features come from
// op_instance().
Sample measure_point(const KernelPoint& p, const MeasureOptions& mo);

// The gpu unit's context runs: small zoo models, dense and block 8x4, every op on the device.
std::vector<ContextRun> gpu_context_runs();
// One sample per op whose class is in `classes` (empty = all), the per-op median over the repeats.
// With `gpu`, every op runs on that unit: samples of the ops on the device (instance "ctx/gpu/..."),
// their copies left out, keyed CLASS/gpu by the fit.
std::vector<Sample> measure_context(const ContextRun& r, const std::vector<std::string>& classes, int repeats = 7,
                                    const std::optional<runtime::UnitDef>& gpu = std::nullopt);

struct CalibrateOptions {
  std::string out;                   // profile path; samples go to out + ".samples.json"
  double budget_s = 120;
  bool resume = false;
  std::vector<std::string> classes;  // empty = all
  int max_threads = 0;               // 0 = all cores
  bool correct_drift = true;         // see FitOptions
  CalibrationPolicy policy;          // every tuned value (calibration_policy.h)
  std::function<void(double done, double total, const std::string& what)> progress;
  const std::atomic<bool>* stop = nullptr;  // set by a signal handler: checkpoint and return
  // Also calibrate this gpu unit (after the CPU), with its own share of time and samples file
  // (out + ".gpu.samples.json"); its samples are merged into the CPU's before the fit.
  std::optional<runtime::UnitDef> gpu;
  double gpu_budget_s = 90;
  bool tiny = false;  // a few small points per class and no waiting out slow phases (smoke tests)
};

// The classes a gpu unit is calibrated for: the kernels the OpenCL lowering has.
const std::vector<std::string>& gpu_calibration_classes();

struct CalibrateResult {
  model::Profile profile;
  SampleSet samples;
  double wall_s = 0;
  double waited_s = 0;  // of which spent waiting out the host's slow phases
  int rechecked = 0;    // thread-count twins timed again for a stray speed-up
  bool interrupted = false;
  std::vector<std::string> gpu_skipped;  // gpu grid points the device could not run, and why
  std::string gpu_device;                // the OpenCL device's name
};
CalibrateResult calibrate(const CalibrateOptions& o);

// Fits a profile from samples (what `hilsim fit` does): per (class, threads) model, device facts from
// the samples, roofline and transfer from their classes, energy from the best counter or an estimate.
// Drift correction (see speed_reference.h) is on unless asked off, for comparing the two fits.
struct FitOptions {
  bool correct_drift = true;
  CalibrationPolicy policy;
};
model::Profile fit_profile(const SampleSet& s, const FitOptions& o = {});

// Fresh random instances not in the grid: per class RMSPE, median |error| and share within +-10%.
struct ClassError {
  std::string klass;
  int n = 0;
  double rmspe = 0, median_abs_pct = 0, within10 = 0;
  double median_pct = 0;  // signed: < 0 when the profile predicts too little
};
std::vector<ClassError> evaluate_profile(const model::Profile& p, int per_class, uint64_t seed,
                                         const std::function<void(double, double, const std::string&)>& progress);

// Zoo variants (input size, width) and sparse settings that context_runs() never measures: their
// layers are fresh instances, but timed where whole-model predictions need them, inside a model.
std::vector<ContextRun> held_out_context_runs(int max_threads);

// The same per-class figures over the layers of held-out runs, each compared with the profile's
// model for its (class, threads); classes the profile lacks are skipped.
std::vector<ClassError> evaluate_profile_in_context(
    const model::Profile& p, const std::vector<ContextRun>& runs,
    const std::function<void(double, double, const std::string&)>& progress);

}  // namespace hilsim::calibration
