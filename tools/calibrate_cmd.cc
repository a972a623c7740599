// `hilsim calibrate` and `hilsim fit`: a device profile for this machine from its own kernels.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/calibration/calibrator.h"
#include "hilsim/calibration/device_facts.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/model/profile.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/units.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"

DEFINE_double(budget_s, 120, "wall-clock budget of the measurement, seconds");
DEFINE_bool(resume, false, "continue from the samples checkpoint beside --out");
DEFINE_string(classes, "", "comma-separated kernel classes to calibrate (default: all; see --help)");
DEFINE_int32(threads_max, 0, "calibrate thread counts 1..N (default: all cores)");
DEFINE_string(evaluate, "", "measure fresh instances not in the grid and report the profile's per-class error");
DEFINE_int32(count, 6, "with --evaluate: isolated instances per class and thread count");
DEFINE_bool(drift_correction, true,
            "divide each sample by how much slower than its undisturbed level (the 10th percentile of the smoothed "
            "speed-reference readings, taken every 2 s) the host ran when it was taken, at the exponent the fit finds, "
            "where that explains the scatter (--nodrift-correction fits the raw timings)");
DEFINE_double(gpu_budget_s, 90, "with --units gpu: wall-clock budget of the gpu unit's part, seconds (after the CPU's)");

namespace hilsim::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

// One-line progress bar with ETA on stderr.
void progress(double done, double total, const std::string& what) {
  static auto t0 = std::chrono::steady_clock::now();
  static auto last = t0 - std::chrono::seconds(1);
  const auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(250) && done < total) return;  // a few updates a second
  last = now;
  const double frac = total > 0 ? std::min(1.0, done / total) : 0;
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double eta = frac > 0.01 ? el * (1 - frac) / frac : 0;
  const int width = 30, fill = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r[%s%s] %3.0f%%  ETA %4.0fs  %-26s", std::string(fill, '#').c_str(),
               std::string(width - fill, '.').c_str(), 100 * frac, eta, what.substr(0, 26).c_str());
  std::fflush(stderr);
}

void print_profile_summary(const model::Profile& p) {
  std::printf("%-26s %7s %9s\n", "class/threads", "samples", "fit RMSPE");
  for (const auto& [k, m] : p.kernels) std::printf("%-26s %7d %8.1f%%\n", k.c_str(), m.samples, m.fit_rmspe);
  std::printf("transfer: %.1f us + %.1f GB/s; roofline: %.1f GFLOP/s, %.1f GB/s (unit '%s')\n", p.transfer.latency_us,
              p.transfer.gbps, p.units.empty() ? 0 : p.units[0].peak_gflops, p.units.empty() ? 0 : p.units[0].mem_gbps,
              p.units.empty() ? "" : p.units[0].id.c_str());
  std::printf("energy (%s): %.1f pJ/FLOP, %.1f pJ/DRAM byte, %.1f pJ/cache byte, %.2f W static%s\n",
              p.energy.source.c_str(), p.energy.pj_per_flop, p.energy.pj_per_byte, p.energy.pj_per_byte_cache,
              p.energy.static_w, p.energy.source == "estimate" ? " — an estimate, not measured (see the profile's basis)" : "");
  const model::SpeedReference& r = p.device.speed_reference;
  if (!r.workload.empty())
    std::printf("speed reference (%s): %.3f ms, p90/p10 %.2f; the host's speed moved %+.1f%% from the start of the "
                "calibration to its end%s\n", r.workload.c_str(), r.ms, r.spread, 100 * r.drift,
                std::fabs(r.drift) > 0.15   ? " — a fast-moving machine: consider calibrating again at a quieter moment"
                : std::fabs(r.drift) > 0.05 ? " — a moving machine; the drift correction below scales for it"
                                            : "");
  if (r.parallel_threads > 1)
    std::printf("  on %d threads: %.3f ms (%.2fx the one-thread level)\n", r.parallel_threads, r.parallel_ms,
                r.ms / r.parallel_ms);
}

void print_drift_correction(const calibration::SampleSet& s, const model::Profile& p) {
  calibration::DriftCorrection d;
  calibration::host_factors(s, &d);
  const double exponent = model::drift_exponent(p);
  if (d.readings < 2) {
    std::printf("drift correction: none (%d speed-reference reading(s) in the samples)\n", d.readings);
  } else if (!FLAGS_drift_correction) {
    std::printf("drift correction: off (--nodrift-correction); the %d readings put the host at %.3f-%.3fx its "
                "undisturbed speed\n", d.readings, d.min_factor, d.max_factor);
  } else if (exponent <= 0) {
    std::printf("drift correction: not applied; %d speed-reference readings put the host at %.3f-%.3fx its undisturbed "
                "time, but explained too little of the kernel samples' scatter to divide them by it\n",
                d.readings, d.min_factor, d.max_factor);
  } else {
    std::printf("drift correction: %d samples taken at %.3f-%.3fx the host's undisturbed time (%d speed-reference "
                "readings); kernels follow it at exponent %.2f, so they were divided by %.3f-%.3f\n",
                d.corrected, d.min_factor, d.max_factor, d.readings, exponent,
                std::pow(d.min_factor, std::max(0.0, exponent)), std::pow(d.max_factor, std::max(0.0, exponent)));
  }
}

int run_calibrate(const std::vector<std::string>& args) {
  no_positional_args(args, "calibrate");
  if (!FLAGS_evaluate.empty()) {
    model::Profile p = model::load_profile(FLAGS_evaluate);
    std::vector<double> ref_before;
    const HostSpeed before = measure_host_speed(p, &ref_before);
    auto isolated = calibration::evaluate_profile(p, FLAGS_count, 1, progress);
    // Held-out runs at every thread count the profile has, as the isolated instances above.
    int max_threads = 1;
    for (const auto& [key, m] : p.kernels) {
      std::string klass;
      int t = 0;
      if (model::split_profile_key(key, &klass, &t)) max_threads = std::max(max_threads, t);
    }
    auto in_context =
        calibration::evaluate_profile_in_context(p, calibration::held_out_context_runs(max_threads), progress);
    std::fprintf(stderr, "\n");
    // The host's speed over the evaluation: the reading before and after, pooled.
    HostSpeed host;
    if (before.slowdown > 0) {
      std::vector<double> runs;
      measure_host_speed(p, &runs);
      runs.insert(runs.end(), ref_before.begin(), ref_before.end());
      host = measure_host_speed(p, &runs);
    }
    auto table_json = [](const std::vector<calibration::ClassError>& errs) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& e : errs)
        j.push_back({{"class", e.klass}, {"n", e.n}, {"rmspe_pct", e.rmspe}, {"median_abs_pct", e.median_abs_pct},
                     {"median_pct", e.median_pct}, {"within10", e.within10}});
      return j;
    };
    if (FLAGS_json) {
      print_json({{"profile", FLAGS_evaluate},
                  {"classes", table_json(isolated)},
                  {"in_context", table_json(in_context)},
                  {"host_slowdown", host.slowdown > 0 ? nlohmann::json(host.slowdown) : nlohmann::json()}});
      return kExitOk;
    }
    auto print = [](const char* title, const std::vector<calibration::ClassError>& errs) {
      std::printf("%s\n%-26s %4s %8s %12s %11s %9s\n", title, "class/threads", "n", "RMSPE", "median |err|",
                  "median err", "within10%");
      int n = 0, within = 0;
      for (const auto& e : errs) {
        std::printf("%-26s %4d %7.1f%% %11.1f%% %+10.1f%% %8.0f%%\n", e.klass.c_str(), e.n, e.rmspe, e.median_abs_pct,
                    e.median_pct, 100 * e.within10);
        n += e.n, within += static_cast<int>(std::lround(e.within10 * e.n));
      }
      if (n) std::printf("all: %d instances, %.0f%% within +-10%%\n", n, 100.0 * within / n);
    };
    print("isolated: fresh grid instances, each timed alone", isolated);
    print("\nin context: the layers of zoo variants and sparse settings calibration did not run, timed inside "
          "their model (what whole-model predictions are made of)",
          in_context);
    if (!host.line.empty()) std::printf("\n%s\n", host.line.c_str());
    return kExitOk;
  }
  if (FLAGS_out.empty()) throw Error("calibrate", "--out device_profiles/NAME.json is required");
  if (FLAGS_budget_s <= 0) throw Error("--budget-s", "must be positive");
  calibration::CalibrateOptions o;
  o.out = FLAGS_out;
  o.budget_s = FLAGS_budget_s;
  o.resume = FLAGS_resume;
  o.classes = split_list(FLAGS_classes);
  o.max_threads = FLAGS_threads_max;
  o.progress = progress;
  o.stop = &g_stop;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  o.correct_drift = FLAGS_drift_correction;
  if (!FLAGS_units.empty()) {
    // Only the gpu unit is calibrated apart: the CPU's cells are per thread count, not per unit.
    for (const runtime::UnitDef& u : runtime::parse_units(FLAGS_units)) {
      if (u.kind != "gpu")
        throw Error("--units: unit '" + u.id + "'", "calibrate takes only a gpu unit here (gpu or gpu:CORE); CPU "
                                                    "units come from the thread counts of --threads-max");
      o.gpu = u;
    }
    // Opened here as the runtime opens it (pinned, one PoCL thread per core): a device first started
    // from this unpinned thread ran on every core, and was timed about 2x faster than `run` runs it.
    std::string why;
    if (o.gpu && !runtime::try_open_gpu_device(*o.gpu, &why)) throw Error("--units gpu", "no OpenCL device: " + why);
    if (FLAGS_gpu_budget_s <= 0) throw Error("--gpu-budget-s", "must be positive");
    o.gpu_budget_s = FLAGS_gpu_budget_s;
  }
  calibration::CalibrateResult r = calibration::calibrate(o);
  std::fprintf(stderr, "\n");
  if (r.interrupted) {
    std::fprintf(stderr, "interrupted: %zu samples checkpointed in %s.samples.json; continue with --resume\n",
                 r.samples.samples.size(), FLAGS_out.c_str());
    return kExitInterrupted;
  }
  r.profile.device.name = r.profile.device.name.empty() ? "this machine" : r.profile.device.name;
  model::save_profile(r.profile, FLAGS_out);
  std::printf("calibrated in %.1f s (%.1f s of it waiting out the host's slow phases, %d thread-count pairs timed again for a "
              "stray speed-up on all threads): %zu samples -> %s (samples beside it)\n",
              r.wall_s, r.waited_s, r.rechecked, r.samples.samples.size(), FLAGS_out.c_str());
  print_profile_summary(r.profile);
  print_drift_correction(r.samples, r.profile);
  if (o.gpu) {
    int fitted = 0;
    for (const auto& c : calibration::gpu_calibration_classes()) fitted += r.profile.kernels.count(model::gpu_profile_key(c)) > 0;
    std::fprintf(stderr, "gpu unit (%s): %d of %zu classes fitted, %zu grid points it cannot run skipped\n",
                 r.gpu_device.c_str(), fitted, calibration::gpu_calibration_classes().size(), r.gpu_skipped.size());
  }
  // Classes the budget ended before (too few samples to fit at some thread count): a prediction that
  // needs one is refused (or answered by roofline with --allow-extrapolation), so say which now.
  const std::vector<std::string> asked = o.classes.empty() ? calibration::calibration_classes() : o.classes;
  const int threads_max = std::max(1, o.max_threads > 0 ? std::min(o.max_threads, kernels::ThreadPool::hardware_threads())
                                                        : kernels::ThreadPool::hardware_threads());
  std::vector<std::string> missing;
  for (const auto& c : asked)
    for (int t = 1; t <= threads_max; ++t)
      if (!r.profile.kernels.count(model::profile_key(c, t))) missing.push_back(model::profile_key(c, t));
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    std::fprintf(stderr, "warning: the %g s budget ended before %zu class/thread cell(s) had samples enough to fit: "
                 "%s; predictions that need them are refused (continue with --resume, or a larger --budget-s)\n",
                 FLAGS_budget_s, missing.size(), list.c_str());
  }
  if (FLAGS_json) {
    nlohmann::json jm = missing;
    print_json({{"profile", FLAGS_out}, {"samples", r.samples.samples.size()}, {"wall_s", r.wall_s},
                {"waited_s", r.waited_s}, {"rechecked_twins", r.rechecked}, {"classes_not_fitted", jm}});
  }
  return kExitOk;
}

int run_fit(const std::vector<std::string>& args) {
  if (args.size() != 1) throw Error("fit", "expects one SAMPLES file (see --help)");
  if (FLAGS_out.empty()) throw Error("fit", "--out PROFILE is required");
  calibration::SampleSet s = calibration::load_samples(args[0]);
  // Samples of other kernels still fit (a phone's file from an older build is all there is), into a
  // profile that carries their digest, so every command that uses it notes the difference in turn.
  if (const std::string why = calibration::samples_kernels_mismatch(s, calibration::build_kernels_digest()); !why.empty())
    std::fprintf(stderr, "note: %s: the samples were %s: the fitted profile describes those kernels%s (`hilsim calibrate` "
                 "measures these)\n", args[0].c_str(), why.c_str(),
                 s.device.kernels.empty() ? " and records no digest" : " and records their digest");
  calibration::FitOptions fit;
  fit.correct_drift = FLAGS_drift_correction;
  model::Profile p = calibration::fit_profile(s, fit);
  model::save_profile(p, FLAGS_out);
  std::printf("fitted %zu samples -> %s\n", s.samples.size(), FLAGS_out.c_str());
  print_profile_summary(p);
  print_drift_correction(s, p);
  if (FLAGS_json) print_json({{"profile", FLAGS_out}, {"samples", s.samples.size()}, {"kernels", p.kernels.size()}});
  return kExitOk;
}

std::string classes_text() {
  std::string t;
  for (const auto& c : calibration::calibration_classes()) t += (t.empty() ? "" : ", ") + c;
  return t;
}

std::string gpu_classes_text() {
  std::string t;
  for (const auto& c : calibration::gpu_calibration_classes()) t += (t.empty() ? "" : ", ") + c;
  return t;
}

const Register reg_cal({"calibrate", "measure this machine's kernels over a designed grid into a device profile",
                        "hilsim calibrate --out device_profiles/NAME.json [--budget-s S] [--resume] [--classes LIST]\n"
                        "                 [--threads-max N] [--units gpu[:CORE] [--gpu-budget-s S]]\n"
                        "hilsim calibrate --evaluate PROFILE [--count N] [--json]\n\n"
                        "Times every kernel class through the executor over a space-filling design of layer shapes\n"
                        "(channels 8-1024, spatial 4-160, strides 1/2, sparsity 0-0.95), threads 1..cores, then adds\n"
                        "samples where the fit is worst until the budget is spent. Each class and thread count gets a\n"
                        "linear model over physical features (MACs, bytes by stream, tiles, activation bytes, calls)\n"
                        "fitted by non-negative least squares on relative error. Ctrl-C leaves a checkpoint;\n"
                        "--resume continues (not from samples of other kernels: their digest is not this build's).\n"
                        "Samples are kept in NAME.json.samples.json (refit with `hilsim fit`).\n\n"
                        "--evaluate measures instances the calibration never ran, two ways: N fresh grid points per\n"
                        "class timed alone, and the layers of zoo variants and sparse settings outside the\n"
                        "calibration's list timed inside their model; per class and thread count it prints RMSPE,\n"
                        "median |error| and the share within +-10% of the profile's prediction.\n\n"
                        "--units gpu[:CORE] then calibrates the OpenCL device (PoCL on CORE here): small zoo models\n"
                        "in context first (about half of --gpu-budget-s), then its classes\n"
                        "(" + gpu_classes_text() + ") over the same driver and grid,\n"
                        "every op on the device (its own copies taken out), with --gpu-budget-s of its own: models\n"
                        "keyed CLASS/gpu (terms per MAC, byte, wave of work-groups and kernel launch, and the MACs of\n"
                        "1x1s run by the direct kernel and of idle float4 lanes of sparse rows), a units[]\n"
                        "entry {id gpu, kind gpu, compute_units} naming the device, and its crossing\n"
                        "terms (host_transfer): a copy's fixed part and bandwidth from blocking copies of 64 B to\n"
                        "4 MiB (both from the copies inside the model runs where six or more span 8x in size and\n"
                        "run slower), and sync_us, the hand-off per crossing between a CPU unit on another core and\n"
                        "the device; and corun_share, how much longer a device conv takes while that core runs the\n"
                        "CPU's conv (the simulator's slowdown for the unit when others are busy). Without an OpenCL\n"
                        "device it is an error (exit 2).\n"
                        "Classes: " + classes_text(),
                        {"out", "budget_s", "resume", "classes", "threads_max", "evaluate", "count", "json", "drift_correction",
                         "units", "gpu_budget_s"},
                        run_calibrate});
const Register reg_fit({"fit", "re-fit a device profile from calibration samples without measuring",
                        "hilsim fit SAMPLES --out PROFILE\n\n"
                        "Fits the samples a calibration kept (NAME.json.samples.json) into a profile. Samples\n"
                        "measured with other kernels than this build's (their device.kernels digest; `hilsim\n"
                        "--version` prints this build's) still fit, with a note naming both digests, into a profile\n"
                        "that records theirs, which predict and plan then note in turn. Each sample is divided by\n"
                        "how much slower than its undisturbed level (the 10th percentile of the smoothed\n"
                        "speed-reference readings, taken every 2 s) the host ran when it was taken, where that\n"
                        "explains the scatter, unless --nodrift-correction. --json prints the profile's path and sample count.",
                        {"out", "drift_correction", "json"}, run_fit});

}  // namespace
}  // namespace hilsim::cli
