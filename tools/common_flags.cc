#include "common_flags.h"

DEFINE_bool(json, false, "print one JSON object on stdout instead of tables");
DEFINE_string(input_shape, "",
              "fix dynamic input dims, e.g. 'images:1x3x320x320' or '1x3x224x224' for a single input; "
              "several inputs separated by ';'");
DEFINE_bool(allow_unknown, false,
            "treat ops hilsim does not know as memory-bound elementwise ops (and say so) instead of failing");
DEFINE_int32(threads, 1,
             "worker threads (1..4x the cores); without it every command uses 1, or the plan's count with --plan");

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <unistd.h>
#include <thread>

#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/model/profile_note.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/util/error.h"

namespace hilsim::cli {

std::string zoo_name_list() {
  std::string s;
  for (const auto& n : graph::zoo_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

namespace {

const model::DeviceInfo& this_machine() {
  static const model::DeviceInfo d = calibration::detect_device("/");
  return d;
}

// Lower is closer. An ISA difference outweighs everything: the kernels then run another code path.
int mismatch_weight(const std::vector<model::DeviceMismatch>& m) {
  using Kind = model::DeviceMismatch::Kind;
  int w = 0;
  for (const auto& x : m) w += x.kind == Kind::kIsa ? 100 : x.kind == Kind::kCores ? 10 : 1;
  return w;
}

}  // namespace

std::vector<BundledProfile> bundled_profiles() {
  namespace fs = std::filesystem;
  std::vector<BundledProfile> out;
  std::error_code ec;
  fs::path dir = "device_profiles";
  if (!fs::is_directory(dir, ec)) dir = fs::path(HILSIM_SOURCE_DIR) / "device_profiles";
  if (!fs::is_directory(dir, ec)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (e.path().extension() == ".json" && n.find(".samples.") == std::string::npos && n.find(".checkpoint") == std::string::npos)
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    try {
      model::Profile p = model::load_profile(f.string());
      auto m = model::device_mismatches(p.device, this_machine());
      out.push_back({f.string(), std::move(p), std::move(m)});
    } catch (const Error&) {
      // A broken file in the directory is not the bundled default; `hilsim profiles` lists only good ones.
    }
  }
  return out;
}

std::string best_bundled_profile(const std::vector<BundledProfile>& all) {
  const BundledProfile* best = nullptr;
  for (const auto& b : all)
    if (b.profile.provenance == "measured" && (!best || mismatch_weight(b.mismatches) < mismatch_weight(best->mismatches)))
      best = &b;
  if (best) return best->path;
  return kernels::active_isa() == kernels::Isa::kAvx512 ? "device_profiles/x86_avx512_2core.json"
                                                        : "device_profiles/x86_avx2_2core.json";
}

std::string bundled_profile() { return best_bundled_profile(bundled_profiles()); }

void note_about_profile(const model::Profile& p, const std::string& path, model::ProfileNoteScope scope) {
  // Once per process, whichever command part asks first: a command that loads its profile twice (validate
  // re-predicts after running) says it once.
  static bool said = false;
  if (said) return;
  const std::string note = model::profile_note(p, this_machine(), path, scope);
  if (note.empty()) return;
  said = true;
  std::fprintf(stderr, "note: %s\n", note.c_str());
}

HostSpeed measure_host_speed(const model::Profile& p, std::vector<double>* runs, int threads) {
  HostSpeed h;
  const model::SpeedReference& r = p.device.speed_reference;
  if (!calibration::speed_reference_comparable(p.device) || !(r.ms > 0)) return h;
  std::vector<double> t;
  if (runs && !runs->empty()) {
    t = *runs;
  } else {
    calibration::SpeedReferenceRun ref;
    t = ref.time(20);
    if (runs) *runs = t;
  }
  h.reference_ms_then = r.ms;
  h.reference_ms_now = calibration::quantile(t, 0.1);
  h.slowdown = calibration::host_slowdown(p.device, h.reference_ms_now);
  if (h.slowdown <= 0) return h;
  char b[320];
  std::snprintf(b, sizeof b,
                "host speed: the profile's reference workload takes %.3f ms now, %.3f ms at calibration (%s %.0f%%)%s",
                h.reference_ms_now, h.reference_ms_then, h.slowdown >= 1 ? "slower by" : "faster by",
                100 * std::fabs(h.slowdown - 1), std::fabs(h.slowdown - 1) > 0.05 ?
                ": that much of a gap between prediction and measurement is the host, not the model" : "");
  h.line = b;
  if (threads > 1 && r.parallel_threads == threads && r.parallel_ms > 0) {
    calibration::SpeedReferenceRun par(threads);
    h.parallel_threads = threads;
    h.parallel_ms_then = r.parallel_ms;
    h.parallel_ms_now = calibration::quantile(par.time(20), 0.1);
    h.parallel_slowdown = calibration::host_parallel_slowdown(p.device, threads, h.parallel_ms_now);
    std::snprintf(b, sizeof b, "\non %d threads it takes %.3f ms now, %.3f ms at calibration (%s %.0f%%)%s", threads,
                  h.parallel_ms_now, h.parallel_ms_then, h.parallel_slowdown >= 1 ? "slower by" : "faster by",
                  100 * std::fabs(h.parallel_slowdown - 1),
                  std::fabs(h.parallel_slowdown - h.slowdown) > 0.1
                      ? ": the other core(s) moved apart from the first, and a multi-thread gap follows this line"
                      : "");
    h.line += b;
  }
  return h;
}

int threads_from_flags(int plan_threads, const model::Profile* profile, const std::string& unit) {
  const bool given = !gflags::GetCommandLineFlagInfoOrDie("threads").is_default;
  if (!given && plan_threads <= 0) return 1;
  int cores = std::max(1u, std::thread::hardware_concurrency());
  std::string whose = "this machine";
  if (profile && !profile->units.empty()) {
    const std::string id = unit.empty() ? profile->units[0].id : unit;
    const model::UnitSpec* u = profile->unit(id);
    if (!u) throw Error("--unit '" + id + "'", "the profile has no such unit");
    cores = costmodel::max_threads(*profile, id) / 4;
    whose = "unit '" + id + "' in the profile";
  }
  // 0 and negative counts are no shorthand for a default: a script that computed one has a bug. A
  // plan's count is held to the same bound (a plan for a 16-core phone would start 16 threads here).
  const int threads = given ? FLAGS_threads : plan_threads;
  if (threads < 1 || threads > 4 * cores)
    throw Error(given ? "--threads " + std::to_string(threads) : "the plan's threads " + std::to_string(threads),
                "must be in 1.." + std::to_string(4 * cores) + " (4x the " + std::to_string(cores) + " cores of " + whose +
                    (given ? ")" : "); give --threads to run it on fewer"));
  return threads;
}

partition::Plan load_plan_for(const std::string& path, const graph::Graph& model) {
  partition::Plan plan = partition::load_plan(path);
  partition::check_plan_applies(plan, model, path);
  return plan;
}

graph::Graph load_model_from_flags(const std::string& spec) {
  graph::ImportOptions o;
  if (!FLAGS_input_shape.empty()) o.input_shapes = graph::parse_input_shapes(FLAGS_input_shape);
  o.allow_unknown = FLAGS_allow_unknown;
  std::vector<std::string> notes;
  o.notes = &notes;
  graph::Graph g = graph::load_model(spec, o);
  for (const auto& n : notes) {
    std::fprintf(stderr, "note: %s: %s\n", spec.c_str(), n.c_str());
    model_notes().push_back(n);
  }
  return g;
}

void check_writable(const std::string& path, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(flag + " " + path, "is a directory, not a file");
  const bool existed = fs::exists(path, ec);
  {
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (!f) throw Error(flag + " " + path, std::string("cannot be written: ") + std::strerror(errno));
    std::fclose(f);
  }
  if (!existed) fs::remove(path, ec);
}

namespace {
int g_json_fd = 1;
}  // namespace

void route_stdout_for_json() {
  std::fflush(stdout);
  std::cout.flush();
  const int fd = dup(1);
  if (fd < 0 || dup2(2, 1) < 0) return;  // keep the old behaviour rather than lose the output
  g_json_fd = fd;
}

void print_json(nlohmann::json j) {
  if (!j.is_object()) j = nlohmann::json{{"result", std::move(j)}};
  j["schema_version"] = kJsonSchemaVersion;
  std::fflush(stdout);
  std::cout.flush();
  const std::string text = j.dump(2) + "\n";
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(g_json_fd, text.data() + done, text.size() - done);
    if (n <= 0) throw std::runtime_error(std::string("cannot write the JSON result: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

std::vector<std::string>& model_notes() {
  static std::vector<std::string> n;
  return n;
}

namespace {

// `v` divided by `step` while it reaches it (at most four times), with the unit it got to; an unscaled
// value prints whole, `unscaled_sep` between it and units[0].
std::string scaled(double v, double step, const char* const (&units)[5], const char* unscaled_sep) {
  int i = 0;
  while (v >= step && i < 4) {
    v /= step;
    ++i;
  }
  char b[32];
  if (i)
    std::snprintf(b, sizeof b, "%.2f %s", v, units[i]);
  else
    std::snprintf(b, sizeof b, "%.0f%s%s", v, unscaled_sep, units[0]);
  return b;
}

}  // namespace

std::string human_count(double v) { return scaled(v, 1000.0, {"", "K", "M", "G", "T"}, ""); }

std::string human_bytes(double v) { return scaled(v, 1024.0, {"B", "KiB", "MiB", "GiB", "TiB"}, " "); }

void no_positional_args(const std::vector<std::string>& args, const std::string& command) {
  if (!args.empty()) throw Error(command, "takes no positional arguments (see --help)");
}

const std::string& model_arg(const std::vector<std::string>& args, const std::string& command) {
  if (args.size() != 1) throw Error(command, "expects one MODEL (an .onnx path or zoo:NAME[@RES]); see --help");
  return args[0];
}

const std::string& required_profile(const std::string& command) {
  if (FLAGS_profile.empty()) throw Error(command, "--profile is required (see device_profiles/)");
  return FLAGS_profile;
}

ProfileFile profile_or_bundled() {
  ProfileFile r;
  r.path = FLAGS_profile.empty() ? bundled_profile() : FLAGS_profile;
  r.profile = model::load_profile(r.path);
  note_about_profile(r.profile, r.path, model::ProfileNoteScope::kMachine);
  return r;
}

const model::UnitSpec& profile_unit_of(const ProfileFile& pf, const runtime::UnitDef& u) {
  const model::UnitSpec* spec = pf.profile.unit(u.id);
  if (!spec)
    throw Error(pf.path, "has no unit '" + u.id + "'" +
                             (u.kind == "gpu" ? " (calibrate with --units gpu:CORE to add the OpenCL device)" : ""));
  if (spec->kind != u.kind)
    throw Error("--units", "unit '" + u.id + "' is a " + u.kind + " here and a " + spec->kind + " in " + pf.path);
  return *spec;
}

}  // namespace hilsim::cli
