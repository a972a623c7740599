// Fitting calibration samples into per-kernel-class latency models. Each model is linear in
// physically meaningful features (time per MAC, per byte moved, per output tile, per call, ...) with
// NON-NEGATIVE coefficients: a cost term cannot be negative, and letting least squares pick a negative
// one would fit the samples and extrapolate absurdly. The fit minimises RELATIVE error, since a
// 10 µs kernel matters as much to a ranking as a 10 ms one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/kernel_features.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/costmodel/profile.h"

namespace hilsim::calibration {

// Non-negative least squares min ||A x - b|| s.t. x >= 0 (Lawson–Hanson active set).
// A is rows x cols, row-major.
std::vector<double> nnls(const std::vector<double>& a, size_t rows, size_t cols, const std::vector<double>& b);

// ms predicted by a model for an instance; `extrapolated` (optional) says whether any feature lies
// outside the model's valid_range. Missing features count as 0.
double evaluate_model(const costmodel::KernelModel& m, const std::map<std::string, double>& features,
                      bool* extrapolated = nullptr);

// A fitted model resolved to the fixed feature slots of FeatureVector: the cost model's hot path.
struct CompiledModel {
  FeatureVector coef{};
  struct Range {
    int slot;
    double lo, hi;
  };
  std::vector<Range> ranges;
  double evaluate(const FeatureVector& f, bool* extrapolated = nullptr) const;
};
// Throws hilsim::Error naming the feature when the model uses one this build does not know.
CompiledModel compile_model(const costmodel::KernelModel& m, const std::string& where);

// Fits one class. `features` are the model's terms in order ("call" = the constant 1 per call).
costmodel::KernelModel fit_kernel_class(const std::vector<Sample>& samples, const std::vector<std::string>& features,
                                        const CalibrationPolicy& policy = {});

// Root-mean-square percentage error of a model over samples.
double rmspe(const costmodel::KernelModel& m, const std::vector<Sample>& samples);

}  // namespace hilsim::calibration
