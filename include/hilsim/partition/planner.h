// The planner: per-layer format, block size and ratio (and unit) that keep the most saliency within a
// latency target, predicted by the cost model from the model's real weights. A plan is versioned JSON
// that `run`, `predict`, `emit` and `validate` read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/graph.h"
#include "hilsim/partition/channel_split.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::partition {

inline constexpr int kPlanVersion = 1;

struct PlanOptions {
  double target_ms = 0;       // absolute target, or
  double target_speedup = 0;  // dense predicted latency / target
  std::vector<std::string> formats = {"block"};  // block | block_col | pattern | csr
  std::vector<std::pair<int, int>> blocks = {{4, 1}, {4, 4}, {8, 1}, {8, 4}, {8, 8}, {16, 4}, {16, 8}, {32, 4}};
  std::vector<double> ratios = {0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95};
  double max_ratio = 0.95;
  bool keep_first_last_dense = true;
  bool share_coupled = true;    // coupled-channel groups take one decision
  int threads = 0;              // as in PredictorOptions
  std::string unit;             // default unit
  // Two or more units: also try a branch split across them, and CoDL's channel split of one conv
  // between the first (which keeps every other op) and the second.
  std::vector<std::string> split_units;
  int front_points = 0;         // > 1: also solve at this many budgets from fastest to dense (Plan::front)
};

struct LayerChoice {
  std::string op;
  runtime::LayerSparsity setting;  // format, block, ratio, entries, unit
  double dense_ms = 0, ms = 0;
  double kept_saliency = 1;
  int group = -1;                  // coupled group sharing this decision, -1 none
  // Per block size at the chosen ratio: (block, ms, saliency), the trade-off the choice came from.
  std::vector<std::tuple<std::string, double, double>> block_tradeoff;
};

// One point of the planner's latency / kept-saliency trade-off: the knapsack's best at one budget.
// ms is the sum of the layers' predicted times (what the knapsack budgets), not the simulated makespan.
struct FrontPoint {
  double sum_ms = 0, saliency = 0;  // saliency: mean kept saliency over the prunable layers
};

struct Plan {
  std::string model, profile, fingerprint;
  int threads = 1;
  std::string unit;
  double target_ms = 0, dense_ms = 0;
  costmodel::Prediction predicted;
  std::vector<LayerChoice> layers;
  double saliency = 0;      // mean kept saliency over prunable layers
  double solver_gap = 0, solver_upper_bound = 0;
  std::string split = "none";  // none | branches | channels
  double split_ms = 0, no_split_ms = 0;
  // The best channel split found (tried with split_units; kept or not), and the one the plan uses
  // (split == "channels").
  std::optional<ChannelSplitChoice> channel_split_best, channel_split;
  // With PlanOptions::front_points: the Pareto front the knapsack reaches (dominated points dropped),
  // fastest first, and where this plan lies on it. Not part of the plan file.
  std::vector<FrontPoint> front;
  FrontPoint chosen;
  runtime::SparsitySpec spec() const;
};

// A fingerprint of the canonical graph (input shape, op names, types, weight shapes): a plan only
// applies to the model and input size it was made for.
std::string model_fingerprint(const graph::Graph& canonical);
// Throws Error at `where` (the plan's file) unless `plan` was made for `model` (before the canonical
// passes) at its input shape.
void check_plan_applies(const Plan& plan, const graph::Graph& model, const std::string& where);

// Throws Error (exit 2 at the CLI) when the target is unreachable, naming the best reachable latency.
Plan make_plan(const graph::Graph& model, const std::string& model_name, const model::Profile& profile,
               const std::string& profile_name, const PlanOptions& o);

std::string plan_to_json(const Plan& p);
// Per-op settings and the plan's facts; checks version and fields, naming the bad one.
Plan plan_from_json(const std::string& text, const std::string& where);
Plan load_plan(const std::string& path);

// A split (of branches or of one conv's channels) is kept only where it is predicted faster than one
// unit alone by more than kMinSplitGain: the multi-unit executor pays per op for its hand-offs what the
// predictions do not hold (MobileNetV2 with every op left on one unit ran 4% slower through it), and a
// pick predicted 0.2-0.3% faster ran 6.5% (MnasNet) and 40% (ShuffleNetV2, 1.3 ms) slower than its CPU
// unit alone (AMD EPYC Zen 4, PoCL on the other core).
inline constexpr double kMinSplitGain = 0.04;
inline bool split_pays(double split_ms, double one_unit_ms) { return split_ms < one_unit_ms * (1.0 - kMinSplitGain); }

// Branch split: the unit of each op `config` leaves unpinned, chosen among `units` by the calibrated
// predictor's placement (Predictor::predict_placed: an op moves only where its time plus its
// transfers wins). Throws Error naming a unit the profile lacks.
std::map<std::string, std::string> split_branches(costmodel::Predictor& pred, const runtime::SparsitySpec& config,
                                                  const std::vector<std::string>& units);

// Kept saliency of a conv's real weights under a setting (the mask generators' figure).
double layer_saliency(const graph::Graph& canonical, const std::string& op, const runtime::LayerSparsity& ls);

}  // namespace hilsim::partition
