#include "hilsim/model/kernel_model.h"

#include "hilsim/util/error.h"

namespace hilsim::model {

namespace {

// 1% slack: a layer at the exact edge of the grid is not an extrapolation.
bool outside(double v, double lo, double hi) { return v < lo * 0.99 || v > hi * 1.01; }

}  // namespace

double feature_value(const std::map<std::string, double>& f, const std::string& name) {
  if (name == "call") return 1.0;
  auto it = f.find(name);
  return it == f.end() ? 0.0 : it->second;
}

double evaluate_model(const KernelModel& m, const std::map<std::string, double>& features, bool* extrapolated) {
  double ms = 0;
  for (size_t i = 0; i < m.features.size(); ++i) ms += m.params[i] * feature_value(features, m.features[i]);
  if (extrapolated) {
    *extrapolated = false;
    for (const auto& [f, range] : m.valid_range) {
      double v = feature_value(features, f);
      if (outside(v, range.first, range.second)) *extrapolated = true;
    }
  }
  return ms;
}

CompiledModel compile_model(const KernelModel& m, const std::string& where) {
  CompiledModel c;
  for (size_t i = 0; i < m.features.size() && i < m.params.size(); ++i) {
    const int slot = feature_index(m.features[i]);
    if (slot < 0) throw Error(where + ": feature '" + m.features[i] + "'", "is not a feature this build knows");
    c.coef[static_cast<size_t>(slot)] += m.params[i];
  }
  for (const auto& [f, range] : m.valid_range) {
    const int slot = feature_index(f);
    if (slot < 0) throw Error(where + ": valid_range feature '" + f + "'", "is not a feature this build knows");
    c.ranges.push_back({slot, range.first, range.second});
  }
  return c;
}

double CompiledModel::evaluate(const FeatureVector& f, bool* extrapolated) const {
  double ms = 0;
  for (size_t i = 0; i < f.size(); ++i) ms += coef[i] * f[i];
  if (extrapolated) {
    *extrapolated = false;
    for (const Range& r : ranges) {
      const double v = f[static_cast<size_t>(r.slot)];
      if (outside(v, r.lo, r.hi)) *extrapolated = true;
    }
  }
  return ms;
}

}  // namespace hilsim::model
