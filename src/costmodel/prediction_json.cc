#include "hilsim/costmodel/prediction_json.h"

namespace hilsim::costmodel {

nlohmann::json op_prediction_json(const OpPrediction& o) {
  return {{"name", o.name}, {"type", o.type}, {"kernel", o.kernel}, {"class", o.klass}, {"unit", o.unit},
          {"format", o.format}, {"ms", o.ms}, {"transfer_ms", o.transfer_ms}, {"bytes", o.bytes}, {"dram_bytes", o.dram_bytes},
          {"cache_bytes", o.cache_bytes}, {"energy_mj", o.energy_mj}, {"macs", o.macs},
          {"executed_macs", o.executed_macs}, {"weight_bytes", o.weight_bytes},
          {"model", o.model}, {"extrapolated", o.extrapolated},
          {"start_ms", o.start_ms}, {"end_ms", o.end_ms}};
}

nlohmann::json prediction_total_json(const Prediction& p) {
  return {{"ms", p.ms}, {"sum_ms", p.sum_ms}, {"bytes", p.bytes}, {"dram_bytes", p.dram_bytes},
          {"cache_bytes", p.cache_bytes}, {"energy_mj", p.energy_mj}, {"dynamic_mj", p.dynamic_mj},
          {"static_mj", p.static_mj}, {"energy_source", p.energy_source},
          {"peak_memory_bytes", p.peak_memory_bytes}, {"peak_activation_bytes", p.activation_peak_bytes},
          {"weight_bytes", p.weight_bytes}, {"transfers", p.transfers}, {"transfer_ms", p.transfer_ms},
          {"extrapolated_ops", p.extrapolated_ops}, {"roofline_ops", p.roofline_ops},
          {"older_class_ops", p.older_class_ops},
          {"unit_busy_ms", p.unit_busy_ms}};
}

}  // namespace hilsim::costmodel
