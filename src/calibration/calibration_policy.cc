#include "hilsim/calibration/calibration_policy.h"

namespace hilsim::calibration {

std::vector<std::pair<std::string, double>> policy_values(const CalibrationPolicy& p) {
  auto d = [](auto v) { return static_cast<double>(v); };
  return {{"context_share", d(p.context_share)},
          {"context_repeats", d(p.context_repeats)},
          {"context_visits", d(p.context_visits)},
          {"grid_visits", d(p.grid_visits)},
          {"gpu_context_share", d(p.gpu_context_share)},
          {"design_share", d(p.design_share)},
          {"design_sample_s", d(p.design_sample_s)},
          {"design_min_points", d(p.design_min_points)},
          {"design_max_points", d(p.design_max_points)},
          {"max_sample_macs", d(p.max_sample_macs)},
          {"max_sample_elements", d(p.max_sample_elements)},
          {"grouped_conv_share", d(p.grouped_conv_share)},
          {"far_gemm_share", d(p.far_gemm_share)},
          {"global_pool_share", d(p.global_pool_share)},
          {"token_gemm_share", d(p.token_gemm_share)},
          {"se_conv_share", d(p.se_conv_share)},
          {"many_input_concat_share", d(p.many_input_concat_share)},
          {"inner_axis_concat_share", d(p.inner_axis_concat_share)},
          {"affine_share", d(p.affine_share)},
          {"patchify_kxk_share", d(p.patchify_kxk_share)},
          {"cold_round_bytes", d(p.cold_round_bytes)},
          {"max_copies", d(p.max_copies)},
          {"far_working_set_bytes", d(p.far_working_set_bytes)},
          {"far_round_bytes", d(p.far_round_bytes)},
          {"max_far_copies", d(p.max_far_copies)},
          {"stable_spread", d(p.stable_spread)},
          {"sample_min_time_s", d(p.sample_min_time_s)},
          {"sample_min_rounds", d(p.sample_min_rounds)},
          {"sample_max_rounds", d(p.sample_max_rounds)},
          {"reference_runs", d(p.reference_runs)},
          {"short_reference_runs", d(p.short_reference_runs)},
          {"reading_every_s", d(p.reading_every_s)},
          {"slow_phase_ratio", d(p.slow_phase_ratio)},
          {"fast_level_quantile", d(p.fast_level_quantile)},
          {"slow_phase_poll_s", d(p.slow_phase_poll_s)},
          {"slow_phase_max_tries", d(p.slow_phase_max_tries)},
          {"slow_phase_max_wait_share", d(p.slow_phase_max_wait_share)},
          {"drift_settle", d(p.drift_settle)},
          {"drift_min_gain", d(p.drift_min_gain)},
          {"drift_max_iterations", d(p.drift_max_iterations)},
          {"envelope_quantile", d(p.envelope_quantile)},
          {"envelope", d(p.envelope)},
          {"grid_weight", d(p.grid_weight)},
          {"min_feature_samples", d(p.min_feature_samples)},
          {"thin_class_samples", d(p.thin_class_samples)}};
}

}  // namespace hilsim::calibration
