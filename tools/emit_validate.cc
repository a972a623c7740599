// `hilsim emit` and `hilsim validate`: a plan made into deliverables, and checked on this machine.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/codegen/library_emitter.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/emitter.h"
#include "hilsim/partition/validation_json.h"
#include "hilsim/util/error.h"

DEFINE_bool(lib, false, "emit: also generate per-layer C++ and build a self-contained library (libmodel.a/.so, model.h)");
DEFINE_string(target, "host", "emit --lib: the library's target, host or aarch64 (built with aarch64-linux-gnu-g++)");
DEFINE_double(tune_budget_s, 0, "emit --lib: seconds to spend timing conv kernel variants on this machine (0: none)");
DEFINE_string(tuning_log, "", "emit --lib: tuning log JSON to reuse and extend (default DIR/tuning_log.json)");

namespace hilsim::cli {
namespace {

int run_emit(const std::vector<std::string>& args) {
  const std::string& model_spec = model_arg(args, "emit");
  if (FLAGS_plan.empty() || FLAGS_out.empty()) throw Error("emit", "--plan plan.json and --out DIR are required");
  std::error_code ec;
  if (std::filesystem::exists(FLAGS_out, ec) && !std::filesystem::is_directory(FLAGS_out, ec))
    throw Error("--out " + FLAGS_out, "is an existing file; emit writes a directory (model.onnx, weights.hpk, plan.json)");
  // An output directory that cannot be written is said before any work, naming it.
  std::filesystem::create_directories(FLAGS_out, ec);
  if (ec) throw Error("--out " + FLAGS_out, "cannot create the directory: " + ec.message());
  {
    const std::string probe = FLAGS_out + "/.write_probe";
    if (!std::ofstream(probe)) throw Error("--out " + FLAGS_out, "the directory is not writable");
    std::filesystem::remove(probe, ec);
  }
  if (!FLAGS_lib && (FLAGS_target != "host" || FLAGS_tune_budget_s != 0 || !FLAGS_tuning_log.empty()))
    throw Error("emit", "--target, --tune-budget-s and --tuning-log apply to --lib only");
  if (FLAGS_tune_budget_s < 0 || !std::isfinite(FLAGS_tune_budget_s))
    throw Error("--tune-budget-s", "must be a number of seconds >= 0");
  const graph::Graph model = load_model_from_flags(model_spec);
  const partition::Plan plan = load_plan_for(FLAGS_plan, model);
  const partition::EmitResult r = partition::emit_model(model, plan);
  codegen::LibraryOptions lo;
  lo.target = FLAGS_target;
  lo.tune_budget_s = FLAGS_tune_budget_s;
  lo.tuning_log = FLAGS_tuning_log;
  // The toolchain is checked before anything is written: a missing cross compiler leaves no half output.
  if (FLAGS_lib) codegen::find_toolchain(lo.target);
  partition::write_emitted(r, plan, FLAGS_out);
  std::vector<std::string> files = {FLAGS_out + "/model.onnx", FLAGS_out + "/weights.hpk", FLAGS_out + "/plan.json"};
  codegen::LibraryEmit le;
  if (FLAGS_lib) {
    if (!FLAGS_json) std::fprintf(stderr, "generating and compiling the library (%s)...\n", lo.target.c_str());
    le = codegen::emit_library(r, FLAGS_out, lo);
    for (const auto& f : le.build.files) files.push_back(FLAGS_out + "/" + f);
  }
  int64_t bytes = 0;
  for (const auto& c : r.packed.convs) bytes += c.rows.storage_bytes() + static_cast<int64_t>(c.bias.size()) * 4;
  if (FLAGS_json) {
    nlohmann::json j = {{"dir", FLAGS_out}, {"packed_convs", r.packed.convs.size()}, {"packed_bytes", bytes},
                        {"fingerprint", r.packed.fingerprint}, {"files", files}};
    if (FLAGS_lib)
      j["library"] = {{"target", lo.target},
                      {"generate_s", le.build.generate_s},
                      {"compile_s", le.build.compile_s},
                      {"kernels_cached", le.build.kernels_cached},
                      {"tune_s", le.tune_s},
                      {"tuned_layers", le.tuned_layers},
                      {"reused_layers", le.reused_layers},
                      {"workspace_bytes", le.lib.workspace_bytes},
                      {"weights_bytes", le.lib.weights.size()}};
    print_json(j);
    return kExitOk;
  }
  std::printf("emitted %s: model.onnx (pruned, zeros in place), weights.hpk (%zu packed convs, %s), plan.json\n",
              FLAGS_out.c_str(), r.packed.convs.size(), human_bytes(static_cast<double>(bytes)).c_str());
  if (FLAGS_lib)
    std::printf("library (%s): model.h, libmodel.a, libmodel.so, model_bench; %zu ops, workspace %s, weights %s; "
                "generated in %.2f s, compiled in %.2f s, tuned %d layer(s) in %.1f s, %d reused from the tuning log\n",
                lo.target.c_str(), le.lib.ops.size(), human_bytes(static_cast<double>(le.lib.workspace_bytes)).c_str(),
                human_bytes(static_cast<double>(le.lib.weights.size())).c_str(), le.build.generate_s,
                le.build.compile_s, le.tuned_layers, le.tune_s, le.reused_layers);
  return kExitOk;
}

// The host's speed right after the timed runs, against the profile's calibration (with --profile): on a
// shared machine a validation measured 33% over its prediction and, rerun a minute later, 3% under it.
HostSpeed host_speed_after_run(const model::Profile& profile, int threads) {
  if (FLAGS_profile.empty()) return {};
  return measure_host_speed(profile, nullptr, threads);
}

void add_host_speed(nlohmann::json& j, const HostSpeed& h) {
  if (h.slowdown > 0) j["host_slowdown"] = h.slowdown;
  if (h.parallel_slowdown > 0) j["host_parallel_slowdown"] = h.parallel_slowdown;
}

template <class V>
void print_numerics(const V& v) {
  std::printf("numerics: max abs err %.3g, max rel err %.3g vs the reference on the pruned ONNX -> %s\n",
              v.max_abs_err, v.max_rel_err, v.numerics_ok ? "ok" : "FAILED");
}

// The library of `emit --lib`: the same contract as the packed model's validation, plus the artefact.
int run_validate_library(const std::string& dir) {
  model::Profile profile;
  if (!FLAGS_profile.empty()) {
    profile = model::load_profile(FLAGS_profile);
    note_about_profile(profile, FLAGS_profile, model::ProfileNoteScope::kMachine);
  }
  // The library's own default is one thread; --threads sets hilsim_model_set_threads.
  const int threads = threads_from_flags(0, FLAGS_profile.empty() ? nullptr : &profile);
  const codegen::LibraryValidation v =
      codegen::validate_library(dir, FLAGS_repeat, threads, FLAGS_profile.empty() ? nullptr : &profile);
  const HostSpeed host = v.timed ? host_speed_after_run(profile, threads) : HostSpeed{};
  const int plan_threads = v.plan_threads;
  const double vs_pred = v.timed ? 100.0 * (v.measured_p10 - v.predicted_ms) / v.predicted_ms : 0.0;
  const double vs_target = v.timed ? 100.0 * (v.measured_p10 - v.target_ms) / v.target_ms : 0.0;
  if (FLAGS_json) {
    nlohmann::json j = partition::validation_json(dir, threads, v, v.timed);
    j["artefact"] = v.artefact;
    j["target"] = v.target;
    j["plan_threads"] = plan_threads;
    j["timed"] = v.timed;
    j["predicted_from"] = v.predicted_from;
    j["tuned_ops"] = v.tuned_ops;
    j["tuned_ms"] = v.tuned_ms;
    j["undescribed_ops"] = v.undescribed_ops;
    add_host_speed(j, host);
    print_json(j);
  } else {
    std::printf("artefact: %s\n", v.artefact.c_str());
    print_numerics(v);
    if (v.timed)
      std::printf("latency on %d thread(s) (the plan's: %d): measured p10 %.3f ms (median %.3f, p90 %.3f), predicted %.3f ms "
                  "(%s; measured %+.1f%%), target %.3f ms (measured %+.1f%%)\n",
                  threads, plan_threads, v.measured_p10, v.measured_ms, v.measured_p90, v.predicted_ms,
                  v.predicted_from == "profile" ? "re-predicted with --profile" : "the plan's prediction", vs_pred,
                  v.target_ms, vs_target);
    if (!host.line.empty()) std::printf("%s\n", host.line.c_str());
    if (!v.tuned_ops.empty())
      std::printf("%zu conv(s) on tuned generated variants predicted by the tuner's 1-thread measurement (%.3f ms)\n",
                  v.tuned_ops.size(), v.tuned_ms);
    if (!v.undescribed_ops.empty())
      std::printf("%zu conv(s) on tuned generated variants are not described by the prediction (it is the runtime "
                  "kernel's): %s%s\n",
                  v.undescribed_ops.size(), v.undescribed_ops.front().c_str(), v.undescribed_ops.size() > 1 ? ", ..." : "");
  }
  return v.numerics_ok ? kExitOk : kExitFailed;
}

int run_validate(const std::vector<std::string>& args) {
  if (args.size() != 1) throw Error("validate", "expects one DIR written by `hilsim emit`");
  if (codegen::has_library(args[0])) return run_validate_library(args[0]);
  if (!gflags::GetCommandLineFlagInfoOrDie("threads").is_default)
    throw Error("--threads", "applies to a library DIR (emit --lib); a packed DIR runs on its plan's thread count");
  model::Profile profile;
  if (!FLAGS_profile.empty()) {
    profile = model::load_profile(FLAGS_profile);
    note_about_profile(profile, FLAGS_profile, model::ProfileNoteScope::kMachine);
  }
  const partition::Validation v =
      partition::validate_emitted(args[0], FLAGS_profile.empty() ? nullptr : &profile, FLAGS_repeat);
  // Compared at the runs' 10th percentile (see partition::validation_json).
  const double vs_pred = 100.0 * (v.measured_p10 - v.predicted_ms) / v.predicted_ms;
  const double vs_target = 100.0 * (v.measured_p10 - v.target_ms) / v.target_ms;
  const int threads = partition::load_plan(args[0] + "/plan.json").threads;  // what the run used
  const HostSpeed host = host_speed_after_run(profile, threads);
  if (FLAGS_json) {
    nlohmann::json j = partition::validation_json(args[0], threads, v, true);
    j["packed_convs"] = v.packed_convs;
    add_host_speed(j, host);
    print_json(j);
  } else {
    print_numerics(v);
    std::printf("latency on %d thread(s) (the plan's): measured p10 %.3f ms (median %.3f, p90 %.3f), predicted %.3f ms "
                "(measured %+.1f%%), target %.3f ms (measured %+.1f%%)\n",
                threads, v.measured_p10, v.measured_ms, v.measured_p90, v.predicted_ms, vs_pred, v.target_ms, vs_target);
    if (!host.line.empty()) std::printf("%s\n", host.line.c_str());
  }
  return v.numerics_ok ? kExitOk : kExitFailed;
}

const Register reg_emit({"emit", "write the planned, pruned model: ONNX with zeros, packed weights, plan",
                         "hilsim emit MODEL --plan plan.json --out DIR [--json]\n\n"
                         "Applies the plan's masks to the model's weights (after the canonical passes) and writes\n"
                         "DIR/model.onnx (loadable by any ONNX tool), DIR/weights.hpk (the kernels' compact format,\n"
                         "versioned, checksummed) and DIR/plan.json. A plan made for another model is refused.\n\n"
                         "hilsim emit MODEL --plan plan.json --out DIR --lib [--target host|aarch64]\n"
                         "            [--tune-budget-s S] [--tuning-log FILE] [--json]\n\n"
                         "--lib also generates C++ for the plan (one function per op; the memory plan as constant\n"
                         "offsets into one workspace) and builds it into DIR/libmodel.a, DIR/libmodel.so and\n"
                         "DIR/model_bench with DIR/model.h:\n"
                         "  int hilsim_model_run(const float* input, float* output, void* workspace);\n"
                         "Convs run hilsim's own prepared kernels (dense, depthwise, packed sparse) and the other\n"
                         "ops its memory, layout and math kernels with the runtime's parameters; their sources\n"
                         "are copied into DIR/kernels/ and compiled in (their objects are cached across emits), so\n"
                         "the profile's prediction applies to the library. The weights are embedded from\n"
                         "DIR/model_weights.bin; nothing of hilsim, Boost, ONNX or protobuf is needed to link or\n"
                         "run it. A run takes hilsim_model_set_threads(N) threads (default 1; the kernels split\n"
                         "their work, model_bench --threads N). The host build is tuned for this machine's CPU\n"
                         "(-march=native); --target aarch64 builds with aarch64-linux-gnu-g++. --tune-budget-s\n"
                         "times, per conv, the runtime kernel against generated variants (row height, tile width,\n"
                         "loop order) here, largest convs first, in a harness compiled once with all of them (its\n"
                         "build comes on top of the budget), and keeps the choices in the tuning log, which later\n"
                         "emits reuse for convs of the same shape and storage. Ops (or forms) that `hilsim run`\n"
                         "runs only on its reference implementation are refused, naming the op (exit 2).",
                         {"plan", "out", "json", "input_shape", "allow_unknown", "lib", "target", "tune_budget_s",
                          "tuning_log"},
                         run_emit});
const Register reg_validate({"validate", "check an emitted model: numerics vs the reference, latency vs the plan",
                             "hilsim validate DIR [--profile P] [--repeat N] [--threads N] [--json]\n\n"
                             "Runs DIR's packed weights on the executor and compares its outputs with the reference\n"
                             "executor on DIR/model.onnx (exit 1 when the max relative error exceeds 1e-4), then\n"
                             "measures its latency against the plan's prediction and target, on the plan's thread count.\n"
                             "A DIR emitted with --lib is checked through its library instead: libmodel.so loaded with\n"
                             "dlopen and timed on --threads (default 1; hilsim_model_set_threads), or, for an aarch64\n"
                             "build, model_bench run under qemu-aarch64 for numerics only; the JSON says which artefact\n"
                             "was validated. The library runs the executor's conv kernels: without --profile it is\n"
                             "compared with the plan's stored prediction (made for the plan's threads); with --profile\n"
                             "the plan is re-predicted with that profile at --threads, all ops on one unit as the\n"
                             "library runs them (predicted_from). Convs on a tuned generated variant are not described\n"
                             "by the profile: at 1 thread their predicted time is the tuner's measurement (tuned_ops),\n"
                             "otherwise they are listed (undescribed_ops). --threads applies to a library DIR only.\n"
                             "With --profile it also times the profile's speed reference right after the runs and says\n"
                             "how much faster or slower the host is than at calibration (JSON host_slowdown): on a\n"
                             "shared machine that, not the model, can be most of a gap.",
                             {"profile", "repeat", "threads", "json"}, run_validate});

}  // namespace
}  // namespace hilsim::cli
