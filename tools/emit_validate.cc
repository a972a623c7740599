// `hilsim emit` and `hilsim validate`: a plan made into deliverables, and checked on this machine.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/emitter.h"
#include "hilsim/util/error.h"

DECLARE_string(plan);
DECLARE_string(out);
DECLARE_string(profile);
DECLARE_int32(repeat);

namespace hilsim::cli {
namespace {

int run_emit(const std::vector<std::string>& args) {
  if (args.size() != 1) throw Error("emit", "expects one MODEL (an .onnx path or zoo:NAME[@RES]); see --help");
  if (FLAGS_plan.empty() || FLAGS_out.empty()) throw Error("emit", "--plan plan.json and --out DIR are required");
  std::error_code ec;
  if (std::filesystem::exists(FLAGS_out, ec) && !std::filesystem::is_directory(FLAGS_out, ec))
    throw Error("--out " + FLAGS_out, "is an existing file; emit writes a directory (model.onnx, weights.hpk, plan.json)");
  const graph::Graph model = load_model_from_flags(args[0]);
  const partition::Plan plan = load_plan_for(FLAGS_plan, model);
  const partition::EmitResult r = partition::emit_model(model, plan);
  partition::write_emitted(r, plan, FLAGS_out);
  int64_t bytes = 0;
  for (const auto& c : r.packed.convs) bytes += c.rows.storage_bytes() + static_cast<int64_t>(c.bias.size()) * 4;
  if (FLAGS_json) {
    print_json({{"dir", FLAGS_out}, {"packed_convs", r.packed.convs.size()}, {"packed_bytes", bytes},
                {"fingerprint", r.packed.fingerprint},
                {"files", {FLAGS_out + "/model.onnx", FLAGS_out + "/weights.hpk", FLAGS_out + "/plan.json"}}});
    return kExitOk;
  }
  std::printf("emitted %s: model.onnx (pruned, zeros in place), weights.hpk (%zu packed convs, %s), plan.json\n",
              FLAGS_out.c_str(), r.packed.convs.size(), human_bytes(static_cast<double>(bytes)).c_str());
  return kExitOk;
}

int run_validate(const std::vector<std::string>& args) {
  if (args.size() != 1) throw Error("validate", "expects one DIR written by `hilsim emit`");
  model::Profile profile;
  if (!FLAGS_profile.empty()) {
    profile = model::load_profile(FLAGS_profile);
    note_if_profile_is_of_another_machine(profile, FLAGS_profile);
  }
  const partition::Validation v =
      partition::validate_emitted(args[0], FLAGS_profile.empty() ? nullptr : &profile, FLAGS_repeat);
  // Compared at the runs' 10th percentile, the statistic the profile was fitted to: on a shared
  // machine a neighbour's burst only ever adds time, and the median carries it.
  const double vs_pred = 100.0 * (v.measured_p10 - v.predicted_ms) / v.predicted_ms;
  const double vs_target = 100.0 * (v.measured_p10 - v.target_ms) / v.target_ms;
  const int threads = partition::load_plan(args[0] + "/plan.json").threads;  // what the run used
  if (FLAGS_json) {
    // Flat, in the scheme every command uses: predicted_ms, measured_ms_p10/_median/_p90.
    print_json(nlohmann::json{{"dir", args[0]},
                              {"threads", threads},
                              {"max_abs_err", v.max_abs_err},
                              {"max_rel_err", v.max_rel_err},
                              {"numerics_ok", v.numerics_ok},
                              {"measured_ms_p10", v.measured_p10},
                              {"measured_ms_median", v.measured_ms},
                              {"measured_ms_p90", v.measured_p90},
                              {"predicted_ms", v.predicted_ms},
                              {"target_ms", v.target_ms},
                              {"error_pct", vs_pred},
                              {"vs_target_pct", vs_target},
                              {"compared", "measured_ms_p10"},
                              {"packed_convs", v.packed_convs}});
  } else {
    std::printf("numerics: max abs err %.3g, max rel err %.3g vs the reference on the pruned ONNX -> %s\n",
                v.max_abs_err, v.max_rel_err, v.numerics_ok ? "ok" : "FAILED");
    std::printf("latency on %d thread(s) (the plan's): measured p10 %.3f ms (median %.3f, p90 %.3f), predicted %.3f ms "
                "(measured %+.1f%%), target %.3f ms (measured %+.1f%%)\n",
                threads, v.measured_p10, v.measured_ms, v.measured_p90, v.predicted_ms, vs_pred, v.target_ms, vs_target);
  }
  return v.numerics_ok ? kExitOk : kExitFailed;
}

const Register reg_emit({"emit", "write the planned, pruned model: ONNX with zeros, packed weights, plan",
                         "hilsim emit MODEL --plan plan.json --out DIR [--json]\n\n"
                         "Applies the plan's masks to the model's weights (after the canonical passes) and writes\n"
                         "DIR/model.onnx (loadable by any ONNX tool), DIR/weights.hpk (the kernels' compact format,\n"
                         "versioned, checksummed) and DIR/plan.json. A plan made for another model is refused.",
                         {"plan", "out", "json", "input_shape", "allow_unknown"}, run_emit});
const Register reg_validate({"validate", "check an emitted model: numerics vs the reference, latency vs the plan",
                             "hilsim validate DIR [--profile P] [--repeat N] [--json]\n\n"
                             "Runs DIR's packed weights on the executor and compares its outputs with the reference\n"
                             "executor on DIR/model.onnx (exit 1 when the max relative error exceeds 1e-4), then\n"
                             "measures its latency against the plan's prediction and target, on the plan's thread count.",
                             {"profile", "repeat", "json"}, run_validate});

}  // namespace
}  // namespace hilsim::cli
