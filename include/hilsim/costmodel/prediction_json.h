// A prediction in the one field scheme `hilsim predict --json` and the Python module both report.
#pragma once

#include <nlohmann/json.hpp>

#include "hilsim/costmodel/predictor.h"

namespace hilsim::costmodel {

// One op: name, kernel class, unit, format, ms, bytes by level, energy, MACs, weight bytes, model, schedule.
nlohmann::json op_prediction_json(const OpPrediction& o);
// The totals: makespan and sum, bytes, energy and its source, peak memory, transfers, each unit's busy ms.
nlohmann::json prediction_total_json(const Prediction& p);

}  // namespace hilsim::costmodel
