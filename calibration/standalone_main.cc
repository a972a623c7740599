// hilsim-calibrate: the calibration measurement alone, for devices that cannot host the full CLI
// (phones, boards). Links only the kernels and the graph-free calibration sources; writes a samples
// file that `hilsim fit SAMPLES --out PROFILE` turns into a device profile on the host.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/calibration/roofline.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

const char* kUsage =
    "usage: hilsim-calibrate [--out SAMPLES.json] [--budget-s S] [--resume] [--classes LIST]\n"
    "                        [--threads-max N] [--cpus LIST] [--tiny] [--no-reference-layers]\n\n"
    "Times this device's kernels as `hilsim calibrate` does (one pipeline and policy): layers in context\n"
    "(MobileNetV2, ResNet-18 and a YOLOv5s-like detector, layer after layer), a designed grid and\n"
    "adaptive points where the fit is worst; writes the raw samples: fit them on a host with\n"
    "`hilsim fit SAMPLES --out PROFILE`.\n"
    "Ctrl-C (or SIGTERM) leaves a checkpoint; --resume continues from it.\n"
    "  --out PATH          samples file (default hilsim_samples.json)\n"
    "  --budget-s S        wall-clock budget in seconds (default 120)\n"
    "  --classes LIST      comma-separated kernel classes (default: all)\n"
    "  --threads-max N     calibrate 1..N threads (default: all cores)\n"
    "  --cpus LIST         pin the kernel threads to these cores, e.g. 4,5,6,7 (big cores)\n"
    "  --tiny              a few small points per class (emulators, smoke tests)\n"
    "The environment variable HILSIM_CALIBRATION_NOTE is stored in the samples file's note.\n";

double number(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  throw hilsim::Error(flag, "expects a number, got '" + v + "'");
}

void progress(double done, double total, const std::string& what) {
  static auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const auto t = std::chrono::steady_clock::now();
  if (t - last < std::chrono::milliseconds(500) && done < total) return;
  last = t;
  const double frac = total > 0 ? std::min(1.0, done / total) : 0;
  const int width = 30, fill = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r[%s%s] %3.0f%%  ETA %4.0fs  %-30.30s", std::string(fill, '#').c_str(),
               std::string(width - fill, '.').c_str(), 100 * frac, total - done, what.c_str());
  std::fflush(stderr);
}

int run(int argc, char** argv) {
  hilsim::calibration::DriverOptions o;
  hilsim::calibration::RunnerOptions runner;
  o.samples_path = "hilsim_samples.json";
  o.checkpoint_every = 8;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string v;
    const auto eq = a.find('=');
    if (eq != std::string::npos) v = a.substr(eq + 1), a = a.substr(0, eq);
    for (char& ch : a)
      if (ch == '_') ch = '-';
    auto value = [&]() -> std::string {
      if (eq != std::string::npos) return v;
      if (i + 1 >= args.size()) throw hilsim::Error(a, "needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--out") {
      o.samples_path = value();
    } else if (a == "--budget-s") {
      o.budget_s = number(a, value());
    } else if (a == "--resume") {
      o.resume = true;
    } else if (a == "--classes") {
      o.classes = hilsim::split_list(value());
    } else if (a == "--threads-max") {
      o.max_threads = static_cast<int>(number(a, value()));
    } else if (a == "--cpus") {
      for (const auto& c : hilsim::split_list(value())) runner.cpus.push_back(static_cast<int>(number(a, c)));
    } else if (a == "--tiny") {
      o.tiny = true;
    } else if (a == "--no-reference-layers") {
      o.real_layers = false;
    } else {
      throw hilsim::Error(a, "unknown flag (see --help)");
    }
  }
  for (const auto& c : o.classes) hilsim::calibration::check_kernel_class(c);
  if (const char* note = std::getenv("HILSIM_CALIBRATION_NOTE")) o.note = note;
  o.progress = progress;
  o.stop = &g_stop;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const auto r = hilsim::calibration::calibrate_kernels(o, runner);
  std::fprintf(stderr, "\n");
  std::map<std::string, std::vector<hilsim::calibration::Sample>> by_key;
  for (const auto& s : r.samples.samples)
    by_key[hilsim::model::profile_key(s.klass, hilsim::calibration::sample_threads(s))].push_back(s);
  std::printf("%d samples in %.1f s (%d adaptive, %zu in file) -> %s\n", r.measured, r.wall_s, r.adaptive,
              r.samples.samples.size(), o.samples_path.c_str());
  for (const auto& [key, v] : by_key) {
    const std::string klass = v.front().klass;
    if (klass == hilsim::calibration::kSpeedReferenceClass) {
      // The one-thread readings and those on all threads summarise together, under the first key.
      if (hilsim::calibration::sample_threads(v.front()) != 1) continue;
      const auto sr = hilsim::calibration::summarize_speed_reference(r.samples.samples);
      std::printf("  %-24s %4zu readings, undisturbed %.3f ms, moved %+.1f%% from first to last", "speed reference",
                  v.size(), sr.ms, 100 * sr.drift);
      if (sr.parallel_threads > 1) std::printf("; on %d threads %.3f ms", sr.parallel_threads, sr.parallel_ms);
      std::printf("\n");
    } else if (klass == "stream") {
      std::printf("  %-24s %.2f GB/s\n", key.c_str(), hilsim::calibration::stream_gbps(v.front()));
    } else if (klass == "peak") {
      std::printf("  %-24s %.2f GFLOP/s\n", key.c_str(), hilsim::calibration::peak_gflops(v.front()));
    } else if (v.size() >= 3) {
      const auto m = hilsim::calibration::fit_kernel_class(v, hilsim::model::feature_names(klass));
      std::printf("  %-24s %4zu samples  fit RMSPE %6.1f%%\n", key.c_str(), v.size(), m.fit_rmspe);
    } else {
      std::printf("  %-24s %4zu samples\n", key.c_str(), v.size());
    }
  }
  if (r.interrupted) {
    std::fprintf(stderr, "interrupted: samples checkpointed in %s; continue with --resume\n", o.samples_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const hilsim::Error& e) {
    std::fprintf(stderr, "hilsim-calibrate: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hilsim-calibrate: internal error: %s\n", e.what());
    return 3;
  }
}
