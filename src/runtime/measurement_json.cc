#include "hilsim/runtime/measurement_json.h"

namespace hilsim::runtime {

nlohmann::json measured_op_json(const CompiledOp& op, double ms_median) {
  return {{"name", op.name}, {"type", op.type}, {"kernel", op.kernel}, {"unit", op.unit},
          {"format", op.format}, {"measured_ms_median", ms_median}, {"macs", op.macs},
          {"executed_macs", op.executed_macs}, {"weight_bytes", op.weight_bytes},
          {"kept_saliency", op.kept_saliency}, {"transfer_bytes", op.transfer_bytes}};
}

nlohmann::json measured_total_json(const Executor& ex, const Measurement& m) {
  return {{"measured_ms_median", m.ms_median}, {"measured_ms_p10", m.ms_p10}, {"measured_ms_p90", m.ms_p90},
          {"repeat", m.repeat}, {"warmup", m.warmup}, {"crossings", m.crossings},
          {"wait_ms_median", m.wait_ms_median}, {"transfer_ms_median", m.transfer_ms_median},
          {"arena_bytes", ex.arena_bytes()}, {"peak_live_bytes", ex.peak_live_bytes()}};
}

}  // namespace hilsim::runtime
