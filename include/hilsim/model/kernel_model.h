// Evaluating a fitted kernel model: what calibration fits and the cost model predicts with. A model is
// linear in named features with non-negative coefficients; outside its valid_range it still answers,
// flagging the extrapolation.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/model/kernel_features.h"
#include "hilsim/model/profile.h"

namespace hilsim::model {

// A feature's value in a named set: "call" is the constant 1 per call, a missing feature counts as 0.
double feature_value(const std::map<std::string, double>& features, const std::string& name);

// ms predicted by a model for an instance; `extrapolated` (optional) says whether any feature lies
// outside the model's valid_range.
double evaluate_model(const KernelModel& m, const std::map<std::string, double>& features,
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
CompiledModel compile_model(const KernelModel& m, const std::string& where);

}  // namespace hilsim::model
