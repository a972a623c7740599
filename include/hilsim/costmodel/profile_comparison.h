// How far apart two profiles' predictions lie for the same models and settings: the check that a
// calibration is repeatable (two calibrations of one machine should predict the zoo within a few per
// cent) and the way to see what a recalibration changed, class by class, before trusting it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/model/profile.h"
#include "hilsim/graph/graph.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::costmodel {

struct ComparedConfig {
  std::string name;
  runtime::SparsitySpec spec;
};

struct ConfigDifference {
  std::string name;
  int threads = 1;
  double ms_a = 0, ms_b = 0;
  double diff = 0;           // (b - a) / a
  double diff_host = 0;      // the same with b divided by the host ratio at its thread count (= diff when none)
};

// The configurations at one thread count: a calibration can repeat at one thread and not at two.
struct ThreadsDifference {
  size_t configs = 0;
  double median_abs_diff = 0, max_abs_diff = 0;
  double median_abs_diff_host = 0;
  double host_ratio = 0;  // host_ratio(a, b, threads)
  bool parallel_reading = false;  // host_ratio came from both profiles' readings at this thread count
};

struct ClassDifference {
  size_t ops = 0;                  // op predictions of the class over every config and thread count
  double median_abs_diff = 0;      // of (b - a) / a per op
  double median_diff = 0;          // signed: one profile predicting the class slower throughout
  double max_abs_diff = 0;
};

struct ProfileComparison {
  std::vector<ConfigDifference> configs;
  std::map<std::string, ClassDifference> classes;  // kernel class -> summary of op_diffs
  std::map<std::string, std::vector<double>> op_diffs;  // kernel class -> (b - a) / a of each op prediction
  double max_abs_diff = 0, median_abs_diff = 0;
  double max_abs_diff_host = 0, median_abs_diff_host = 0;
  // b's speed reference over a's when both recorded one of the same workload, else 0: 1.05 means the
  // host ran 5% slower while b was calibrated, so about that much of any gap is the host, not the fit.
  double host_ratio = 0;
  std::map<int, ThreadsDifference> by_threads;
};

// b's speed reference over a's (see ProfileComparison::host_ratio). At threads > 1, the ratio of their
// parallel levels where both recorded one at that count, else the one-thread ratio.
double host_ratio(const model::Profile& a, const model::Profile& b, int threads = 1, bool* parallel_reading = nullptr);

// Predicts every config of `model` with each profile at each of `threads` (on opts.default_unit) and
// compares. A config one profile cannot predict is an error naming the config.
ProfileComparison compare_profiles(const graph::Graph& model, const model::Profile& a, const model::Profile& b,
                                   const std::vector<ComparedConfig>& configs, const std::vector<int>& threads,
                                   PredictorOptions opts = {});

// Merges comparisons of several models (their configs and per-op differences pooled).
ProfileComparison merge_comparisons(const std::vector<ProfileComparison>& parts);

}  // namespace hilsim::costmodel
