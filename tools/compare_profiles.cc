// `hilsim compare-profiles A B`: how far two profiles' predictions lie apart on the zoo, in the
// configurations bench-predictor measures. Two calibrations of one machine should agree within a few
// per cent; a larger gap says the calibration is not repeatable (or the host changed speed between
// them, which the profiles' speed references show).
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <set>
#include <unistd.h>

#include "command.h"
#include "common_flags.h"
#include "hilsim/costmodel/profile_comparison.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"
#include "zoo_configs.h"

DEFINE_string(models, "", "comma-separated models (zoo:NAME[@RES] or .onnx paths); default: bench-predictor's zoo models");
DECLARE_bool(allow_extrapolation);  // predict's flag
DEFINE_double(max_diff_pct, 0, "exit 1 when any configuration's predictions differ by more than this (0: no check)");

namespace hilsim::cli {
namespace {

std::string describe(const model::Profile& p) {
  std::string s = p.provenance;
  if (!p.device.calibrated_at.empty()) s += ", calibrated " + p.device.calibrated_at;
  const auto& r = p.device.speed_reference;
  char b[96];
  if (r.ms > 0) {
    std::snprintf(b, sizeof b, ", speed reference %.3f ms", r.ms);
    s += b;
  } else {
    s += ", no speed reference";
  }
  return s;
}

int run_compare(const std::vector<std::string>& args) {
  if (args.size() != 2) throw Error("compare-profiles", "expects two profiles A and B; see --help");
  if (FLAGS_max_diff_pct < 0 || !std::isfinite(FLAGS_max_diff_pct))
    throw Error("--max-diff-pct", "must be a non-negative number");
  const model::Profile a = model::load_profile(args[0]), b = model::load_profile(args[1]);
  std::vector<std::string> models = split_list(FLAGS_models);
  if (models.empty())
    for (const SuiteModel& m : zoo_bench_models()) models.push_back(m.spec);
  // Every thread count both profiles fitted models for (kernel keys "class/tN"): the default unit's own
  // count can be 1 while the profile also holds the multi-threaded fits.
  auto thread_counts = [](const model::Profile& p) {
    std::set<int> t;
    for (const auto& [key, m] : p.kernels) {
      const auto slash = key.rfind("/t");
      if (slash != std::string::npos) t.insert(std::atoi(key.c_str() + slash + 2));
    }
    t.erase(0);
    return t;
  };
  const std::set<int> ta = thread_counts(a), tb = thread_counts(b);
  std::vector<int> threads;
  std::set_intersection(ta.begin(), ta.end(), tb.begin(), tb.end(), std::back_inserter(threads));
  if (threads.empty()) threads = {1};  // spec profiles: roofline answers at the unit's threads
  costmodel::PredictorOptions po;
  po.default_unit = "cpu0";
  po.allow_extrapolation = FLAGS_allow_extrapolation;
  std::mt19937 rng(7);  // bench-predictor's seed: the same random mixes
  const bool tty = isatty(2);
  std::vector<costmodel::ProfileComparison> parts;
  std::vector<std::string> part_model;
  for (const auto& m : models) {
    if (tty) std::fprintf(stderr, "\r  %-40s", m.c_str());
    graph::Graph g = load_model_from_flags(m);
    costmodel::PredictorOptions ao{1, "cpu0"};
    ao.allow_extrapolation = FLAGS_allow_extrapolation;
    costmodel::Predictor pred(g, a, ao);
    std::vector<costmodel::ComparedConfig> cfgs;
    for (auto& c : zoo_bench_configs(g, pred, rng)) cfgs.push_back({c.name, std::move(c.spec)});
    try {
      parts.push_back(costmodel::compare_profiles(g, a, b, cfgs, threads, po));
    } catch (const Error& e) {
      throw Error(m, e.what());
    }
    part_model.push_back(m);
  }
  if (tty) std::fprintf(stderr, "\r%60s\r", "");
  const costmodel::ProfileComparison all = costmodel::merge_comparisons(parts);
  const bool over = FLAGS_max_diff_pct > 0 && 100 * all.max_abs_diff > FLAGS_max_diff_pct;

  if (FLAGS_json) {
    nlohmann::json j;
    j["a"] = {{"path", args[0]}, {"provenance", a.provenance}, {"calibrated_at", a.device.calibrated_at},
              {"speed_reference_ms", a.device.speed_reference.ms}};
    j["b"] = {{"path", args[1]}, {"provenance", b.provenance}, {"calibrated_at", b.device.calibrated_at},
              {"speed_reference_ms", b.device.speed_reference.ms}};
    j["host_ratio"] = all.host_ratio > 0 ? nlohmann::json(all.host_ratio) : nlohmann::json(nullptr);
    j["configs"] = nlohmann::json::array();
    for (size_t i = 0; i < parts.size(); ++i)
      for (const auto& d : parts[i].configs)
        j["configs"].push_back({{"model", part_model[i]}, {"config", d.name}, {"threads", d.threads}, {"a_ms", d.ms_a},
                                {"b_ms", d.ms_b}, {"diff_pct", 100 * d.diff}, {"diff_host_adjusted_pct", 100 * d.diff_host}});
    for (const auto& [k, c] : all.classes)
      j["per_class"][k] = {{"ops", c.ops}, {"median_abs_diff_pct", 100 * c.median_abs_diff},
                           {"median_diff_pct", 100 * c.median_diff}, {"max_abs_diff_pct", 100 * c.max_abs_diff}};
    j["summary"] = {{"configs", all.configs.size()},
                    {"max_abs_diff_pct", 100 * all.max_abs_diff},
                    {"median_abs_diff_pct", 100 * all.median_abs_diff},
                    {"max_abs_diff_host_adjusted_pct", 100 * all.max_abs_diff_host},
                    {"median_abs_diff_host_adjusted_pct", 100 * all.median_abs_diff_host}};
    for (const auto& [t, td] : all.by_threads)
      j["by_threads"][std::to_string(t)] = {
          {"configs", td.configs}, {"median_abs_diff_pct", 100 * td.median_abs_diff},
          {"max_abs_diff_pct", 100 * td.max_abs_diff}, {"median_abs_diff_host_adjusted_pct", 100 * td.median_abs_diff_host},
          {"host_ratio", td.host_ratio > 0 ? nlohmann::json(td.host_ratio) : nlohmann::json(nullptr)}};
    if (FLAGS_max_diff_pct > 0) j["summary"]["within_max_diff"] = !over;
    print_json(j);
    return over ? kExitFailed : kExitOk;
  }
  std::printf("A %s (%s)\nB %s (%s)\n\n", args[0].c_str(), describe(a).c_str(), args[1].c_str(), describe(b).c_str());
  std::printf("%-26s %8s %12s %12s   %s\n", "model", "configs", "median|diff|", "max|diff|", "largest at");
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& cs = parts[i].configs;
    const auto worst = std::max_element(cs.begin(), cs.end(), [](const auto& x, const auto& y) {
      return std::fabs(x.diff) < std::fabs(y.diff);
    });
    std::printf("%-26s %8zu %11.2f%% %11.2f%%   %s, %d thread%s (%.3f vs %.3f ms)\n", part_model[i].substr(0, 26).c_str(),
                cs.size(), 100 * parts[i].median_abs_diff, 100 * parts[i].max_abs_diff, worst->name.c_str(), worst->threads,
                worst->threads == 1 ? "" : "s", worst->ms_a, worst->ms_b);
  }
  std::printf("\nper kernel class (every op prediction; signed: B against A)\n");
  for (const auto& [k, c] : all.classes)
    std::printf("  %-22s %5zu ops  median|diff| %6.2f%%  median %+7.2f%%  max|diff| %6.2f%%\n", k.c_str(), c.ops,
                100 * c.median_abs_diff, 100 * c.median_diff, 100 * c.max_abs_diff);
  std::string thread_list;
  for (int t : threads) thread_list += (thread_list.empty() ? "" : ",") + std::to_string(t);
  std::printf("\nover %zu configurations (%zu models x thread counts %s): median |diff| %.2f%%, largest %.2f%%\n",
              all.configs.size(), models.size(), thread_list.c_str(), 100 * all.median_abs_diff, 100 * all.max_abs_diff);
  for (const auto& [t, td] : all.by_threads) {
    std::printf("  at %d thread%s: median |diff| %.2f%%, largest %.2f%%", t, t == 1 ? "" : "s", 100 * td.median_abs_diff,
                100 * td.max_abs_diff);
    if (td.host_ratio > 0) {
      const std::string basis = t == 1                ? "one-thread readings"
                                : td.parallel_reading ? "readings on " + std::to_string(t) + " threads"
                                           : "one-thread readings: not both hold one on " + std::to_string(t);
      std::printf("; host ratio %.3f (%s), adjusted median %.2f%%", td.host_ratio, basis.c_str(),
                  100 * td.median_abs_diff_host);
    }
    std::printf("\n");
  }
  if (all.host_ratio > 0)
    std::printf("B's speed reference ran %.3fx A's (the host's speed at each calibration); with B divided by it: "
                "median |diff| %.2f%%, largest %.2f%%\n", all.host_ratio, 100 * all.median_abs_diff_host,
                100 * all.max_abs_diff_host);
  else
    std::printf("no common speed reference: how much of the gap is the host's speed at each calibration is unknown\n");
  if (FLAGS_max_diff_pct > 0)
    std::printf("%s: the largest difference %s --max-diff-pct %.2f%%\n", over ? "FAIL" : "ok", over ? "exceeds" : "is within",
                FLAGS_max_diff_pct);
  return over ? kExitFailed : kExitOk;
}

const Register reg({"compare-profiles", "how far two profiles' predictions lie apart on the zoo (calibration repeatability)",
                    "hilsim compare-profiles A B [--models LIST] [--max-diff-pct X] [--json]\n\n"
                    "Predicts each model (default: bench-predictor's zoo models) with both profiles in the\n"
                    "configurations bench-predictor measures (dense, uniform block/pattern/CSR, random per-layer\n"
                    "mixes, two-unit splits) at every thread count both profiles cover, and prints the relative\n"
                    "difference (B - A) / A per model and per kernel class. Two calibrations of one machine should\n"
                    "agree within 3%. When both profiles hold a speed reference, the difference is also shown with\n"
                    "B scaled by the ratio of their references: what remains is the fit's, not the host's speed.\n"
                    "With --max-diff-pct X it exits 1 when any configuration differs by more than X%.\n"
                    "With --allow-extrapolation a class one profile lacks is answered by its roofline (the per\n"
                    "class table then shows how far that is from the other's fit) instead of failing.",
                    {"models", "max_diff_pct", "json", "input_shape", "allow_unknown", "allow_extrapolation"},
                    run_compare});

}  // namespace
}  // namespace hilsim::cli
