// A measured run in the one field scheme `hilsim run --json` and the Python module both report.
#pragma once

#include <nlohmann/json.hpp>

#include "hilsim/runtime/executor.h"

namespace hilsim::runtime {

// One op as it ran: name, kernel, unit, format, its median ms, MACs, weight bytes, saliency, transfers.
nlohmann::json measured_op_json(const CompiledOp& op, double ms_median);
// The run: median/p10/p90 ms, repeats, unit crossings, waits and copies, and the executor's memory.
nlohmann::json measured_total_json(const Executor& ex, const Measurement& m);

}  // namespace hilsim::runtime
