// A validation in the one field scheme `hilsim validate --json` and the Python module both report, for
// the packed model (partition::Validation) and for an emitted library (whose validation has the same
// fields), hence a template over the validation type.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace hilsim::partition {

// numerics, then predicted_ms and measured_ms_p10/_median/_p90 compared at the runs' 10th percentile,
// the statistic the profile was fitted to (on a shared machine a neighbour's burst only ever adds time,
// and the median carries it). An untimed validation (a library under emulation) reports numerics alone.
template <class V>
nlohmann::json validation_json(const std::string& dir, int threads, const V& v, bool timed) {
  nlohmann::json j{{"dir", dir}, {"threads", threads}, {"max_abs_err", v.max_abs_err},
                   {"max_rel_err", v.max_rel_err}, {"numerics_ok", v.numerics_ok},
                   {"predicted_ms", v.predicted_ms}, {"target_ms", v.target_ms}};
  if (timed) {
    j["compared"] = "measured_ms_p10";
    j["measured_ms_p10"] = v.measured_p10;
    j["measured_ms_median"] = v.measured_ms;
    j["measured_ms_p90"] = v.measured_p90;
    j["error_pct"] = 100.0 * (v.measured_p10 - v.predicted_ms) / v.predicted_ms;
    j["vs_target_pct"] = 100.0 * (v.measured_p10 - v.target_ms) / v.target_ms;
  }
  return j;
}

}  // namespace hilsim::partition
