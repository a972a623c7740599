// Flags shared by several subcommands; defined once in common_flags.cc.
#pragma once

#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

DECLARE_bool(json);
DECLARE_string(input_shape);
DECLARE_bool(allow_unknown);
DECLARE_int32(threads);
// Flags several commands read, each defined beside the command that owns it (file in brackets), declared
// here once so every reader sees the same one.
DECLARE_string(profile);         // (predict.cc)
DECLARE_string(unit);            // (predict.cc); bench-kernels: "" or "cpu" vs "gpu"
DECLARE_bool(compare);           // (predict.cc)
DECLARE_string(sparsity);        // (run.cc)
DECLARE_string(plan);            // (run.cc)
DECLARE_string(units);           // (run.cc)
DECLARE_int32(repeat);           // (run.cc)
DECLARE_string(trace);           // (run.cc)
DECLARE_string(csv);             // (run.cc)
DECLARE_string(out);             // (zoo.cc)
DECLARE_bool(quick);             // (bench_kernels.cc)
DECLARE_string(formats);         // (plan.cc)
DECLARE_double(target_speedup);  // (plan.cc)
DECLARE_string(suite);           // (bench_predictor.cc)

#include <string>
#include <vector>

#include "hilsim/model/profile.h"
#include "hilsim/model/profile_note.h"
#include "hilsim/graph/graph.h"
#include "hilsim/partition/planner.h"
#include "hilsim/runtime/units.h"

namespace hilsim::cli {
// Loads MODEL (an ONNX path or zoo:NAME[@RES]) honouring --input-shape and --allow-unknown.
// Assumptions the import made (a dynamic batch taken as 1) are printed on stderr as notes and kept in
// model_notes() for a command's JSON.
graph::Graph load_model_from_flags(const std::string& spec);
std::vector<std::string>& model_notes();
// The bundled measured profile (device_profiles/*.json) whose machine matches this one best: same
// dispatch ISA first (the kernels run another code path on AVX-512 and AVX2-only CPUs), then cores,
// caches and CPU model. Falls back to the ISA's default name when no directory is found.
std::string bundled_profile();
// The bundled profiles, each with how its machine differs from this one (empty: a match).
struct BundledProfile {
  std::string path;
  model::Profile profile;
  std::vector<model::DeviceMismatch> mismatches;
};
std::vector<BundledProfile> bundled_profiles();
// The bundled_profile() choice among an already loaded list.
std::string best_bundled_profile(const std::vector<BundledProfile>& all);
// Says on stderr, once per process, what model::profile_note says about using `p` here: with kMachine
// (commands about to compare its predictions with runs here) that it was measured on or specified for
// another machine, the gap then being the machine, not the model; with kKernels only that it was
// calibrated with other kernel sources than this build's (any machine: a phone profile from an older
// hilsim describes the older kernels too).
void note_about_profile(const model::Profile& p, const std::string& path, model::ProfileNoteScope scope);
// The host's speed now against the profile's calibration, on its speed reference (timed here when
// the profile has one of the same workload): slowdown = now / then, 0 when there is nothing to compare.
// For a run on `threads` > 1 it also times the workload on that many threads when the profile holds
// its parallel level at that count: the other cores' share of a shared host moves on its own.
struct HostSpeed {
  double reference_ms_then = 0, reference_ms_now = 0, slowdown = 0;
  int parallel_threads = 0;
  double parallel_ms_then = 0, parallel_ms_now = 0, parallel_slowdown = 0;
  std::string line;  // one sentence (two with the parallel reading) for a footer; empty when slowdown is 0
};
HostSpeed measure_host_speed(const model::Profile& p, std::vector<double>* runs = nullptr, int threads = 1);
// The thread rule every command shares: --threads when given, else the plan's thread count when a
// plan is given (`plan_threads` > 0), else 1. A given --threads is refused (Error naming the flag)
// outside 1..4x the cores it runs on: this machine's, or with `profile` those of its unit `unit` ("" the
// first), the unit a prediction is for.
int threads_from_flags(int plan_threads = 0, const model::Profile* profile = nullptr, const std::string& unit = "");
// The plan at `path` (--plan), checked against the model it is applied to: a plan made for other op
// names, weight shapes or input shape is refused naming the plan and the shapes.
partition::Plan load_plan_for(const std::string& path, const graph::Graph& model);
// Throws Error naming `flag` unless `path` can be written, before any long work whose result it holds
// (an unwritable --trace found after a minute of measurement). Leaves no file behind.
void check_writable(const std::string& path, const std::string& flag);
// The --json contract: stdout carries exactly one JSON object, with `schema_version`; tables, progress
// and notes go to stderr. route_stdout_for_json() (main, before a --json command runs) points the
// process's stdout at stderr, so a printf a command makes for its table cannot break the object;
// print_json() writes the object to the real stdout.
inline constexpr int kJsonSchemaVersion = 1;
void route_stdout_for_json();
void print_json(nlohmann::json j);
// The built-in models' names, comma-separated (help texts list them from the zoo itself).
std::string zoo_name_list();
// Error naming `command` when it was given positional arguments, which it does not take.
void no_positional_args(const std::vector<std::string>& args, const std::string& command);
// The one MODEL argument of `command`; Error naming the command unless exactly one is given.
const std::string& model_arg(const std::vector<std::string>& args, const std::string& command);
// --profile, which `command` cannot do without; Error naming the command when it is not given.
const std::string& required_profile(const std::string& command);
// --profile, or when none is given the bundled profile closest to this machine, loaded; for the commands
// that compare predictions with runs here, so a profile of another machine is noted on stderr.
struct ProfileFile {
  std::string path;
  model::Profile profile;
};
ProfileFile profile_or_bundled();
// The profile's unit of `u`'s id, of u's kind (a cpu here must be a cpu there); throws hilsim::Error
// naming the profile file, and how to calibrate a gpu unit it lacks.
const model::UnitSpec& profile_unit_of(const ProfileFile& pf, const runtime::UnitDef& u);
// Human-readable sizes for tables.
std::string human_count(double v);   // 1.23 G
std::string human_bytes(double v);   // 4.5 MiB
}  // namespace hilsim::cli
