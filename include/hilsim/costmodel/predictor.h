// The question users ask hilsim: how fast (and how many bytes, how much energy, how much memory) is
// this candidate on that device? Load a model and a profile once, then predict(config) as often as a
// pruning search needs: per-op predictions are cached by (op, layer setting), so changing a few layers
// costs only those layers plus one schedule simulation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/model/profile.h"
#include "hilsim/graph/graph.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/trace.h"

namespace hilsim::costmodel {

struct PredictorOptions {
  int threads = 0;              // threads of the default unit, 1..max_threads(); 0 = the unit's own count
                                // (the CLI and Python pass 1 unless told otherwise)
  std::string default_unit;     // "" = the profile's first unit
  // A measured profile lacking a kernel class the model needs is an error naming the class; with this
  // set the roofline answers for it instead (marked in the prediction). Spec profiles, which carry no
  // fitted classes at all, always answer by roofline.
  bool allow_extrapolation = false;
};

struct OpPrediction {
  std::string name, type;
  // The kernel `hilsim run` reports for the op on the profile's machine, e.g. "block_8x4_avx512" (its
  // ISA from the profile's recorded extensions; without them the name lacks the ISA part). Convs on a
  // cpu unit only: other ops, and any op on a gpu unit, carry their class here.
  std::string kernel;
  std::string klass;            // the cost-model class that priced it, e.g. "dense_conv3x3", "sparse_fb8"
  std::string unit;
  std::string format = "dense";
  // fitted | roofline (no fitted model for the class in the profile) | host fallback (on a gpu unit,
  // an op its OpenCL lowering leaves to the host: the CPU's one-thread model plus copies) | older class
  // (a profile calibrated before the op's class had a fit of its own, e.g. depthwise 7x7: fitted by the
  // class that priced it then, which `klass` names)
  std::string model = "fitted";
  bool extrapolated = false;    // a feature lies outside the model's calibrated range
  double ms = 0;
  double transfer_ms = 0;       // of ms: the op's copies between the host and a gpu unit's device
  int64_t macs = 0, executed_macs = 0;
  int64_t bytes = 0;            // memory access cost: read + written, weights in storage format
  int64_t dram_bytes = 0, cache_bytes = 0;
  int64_t weight_bytes = 0;
  double energy_mj = 0;         // dynamic + static over the op's time
  double start_ms = 0, end_ms = 0;
};

struct Prediction {
  std::vector<OpPrediction> ops;  // topological order of the canonical graph
  double ms = 0;                  // simulated makespan
  double sum_ms = 0;              // sum of op times (= ms on one unit)
  int64_t bytes = 0, dram_bytes = 0, cache_bytes = 0;
  double energy_mj = 0, dynamic_mj = 0, static_mj = 0;
  std::string energy_source;      // the profile's energy.source ("estimate" is not a measurement)
  int64_t activation_peak_bytes = 0, weight_bytes = 0, peak_memory_bytes = 0;
  std::map<std::string, double> unit_busy_ms;
  int transfers = 0;
  double transfer_ms = 0;
  int extrapolated_ops = 0, roofline_ops = 0;
  int older_class_ops = 0;  // ops the profile prices by an older class (OpPrediction::model)
  std::vector<TraceEvent> trace;
};

// The totals of a prediction without its per-op table: what a search loop compares candidates by.
struct Estimate {
  double ms = 0, sum_ms = 0;
  int64_t bytes = 0, dram_bytes = 0, cache_bytes = 0;
  double energy_mj = 0;
  int64_t weight_bytes = 0, peak_memory_bytes = 0;
  int extrapolated_ops = 0;
};

// The most threads a prediction for `unit_id` may be for: 4x its cores (its pinned cpus, else the
// device's). Past that a "thread count" is time-slicing the calibration never saw.
int max_threads(const model::Profile& p, const std::string& unit_id);

// Safe to query from several threads at once (queries take turns on the shared per-op cache).
class Predictor {
 public:
  Predictor(const graph::Graph& model, model::Profile profile, PredictorOptions opts = {});
  // MODEL is an .onnx path or zoo:NAME[@RES].
  Predictor(const std::string& model, const std::string& profile_path, PredictorOptions opts = {});
  ~Predictor();
  Predictor(Predictor&&) noexcept;

  // `with_trace` fills Prediction::trace (strings for every kernel: off in search loops).
  Prediction predict(const runtime::SparsitySpec& config = {}, bool with_trace = false);
  // Places ops on units as a scheduler would: every op the config does not pin to a unit runs on
  // whichever of `units` finishes it first, given its predicted time there and the transfers its
  // inputs need (HEFT over the simulator; YOLObile's rule that a branch moves only where its time plus
  // the transfer wins). Prediction::ops[i].unit is the unit chosen.
  Prediction predict_placed(const runtime::SparsitySpec& config, const std::vector<std::string>& units,
                            bool with_trace = false);
  // The same totals as predict() (same per-op cache) without copying the per-op table: on one unit a
  // query costs a pass over the ops plus the ops whose setting changed.
  Estimate estimate(const runtime::SparsitySpec& config = {});
  // One op in one setting (cached like predict()): what the planner compares options with.
  OpPrediction predict_op(const std::string& op, const runtime::LayerSparsity& ls, bool strict = true);
  // Ops a config may name (the canonical graph's convs and gemms), with their dense MACs.
  std::vector<std::pair<std::string, int64_t>> prunable_ops() const;
  const graph::Graph& canonical_graph() const;
  const model::Profile& profile() const;
  // Threads the default unit's ops are predicted for (PredictorOptions::threads, or the unit's own count).
  int default_threads() const;
  // Per-op predictions computed so far (not served from the cache): for tests of incrementality.
  int64_t evaluations() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hilsim::costmodel
