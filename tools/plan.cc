// `hilsim plan MODEL --profile P --target-ms T`: block sizes, per-layer ratios and unit split that keep
// the most saliency within a latency target, from the cost model and the model's real weights.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/planner.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"

DEFINE_double(target_ms, 0, "latency target in ms (predicted on the profile)");
DEFINE_double(target_speedup, 0, "latency target as a speed-up over the dense prediction, e.g. 2.5");
DEFINE_string(formats, "block", "formats the planner may use: block, block_col, pattern, csr (comma-separated)");
DEFINE_double(max_ratio, 0.95, "no layer pruned beyond this ratio");
DEFINE_bool(keep_first_last, true, "keep the first conv and the output convs dense");
DEFINE_string(split_units, "",
              "also try a branch split over these profile units, e.g. cpu0,cpu1 or cpu0,gpu, and a channel split of "
              "one conv between the first two");
DEFINE_bool(verbose, false, "print each layer's block-size trade-off");

namespace hilsim::cli {
namespace {

int run_plan(const std::vector<std::string>& args) {
  const std::string& model_spec = model_arg(args, "plan");
  required_profile("plan");
  if ((FLAGS_target_ms > 0) == (FLAGS_target_speedup > 0))
    throw Error("plan", "give exactly one of --target-ms and --target-speedup (positive)");
  graph::Graph g = load_model_from_flags(model_spec);
  partition::PlanOptions o;
  o.target_ms = FLAGS_target_ms;
  o.target_speedup = FLAGS_target_speedup;
  o.formats = split_list(FLAGS_formats);
  o.max_ratio = FLAGS_max_ratio;
  o.keep_first_last_dense = FLAGS_keep_first_last;
  const model::Profile profile = model::load_profile(FLAGS_profile);
  note_about_profile(profile, FLAGS_profile, model::ProfileNoteScope::kKernels);
  o.threads = threads_from_flags(0, &profile, FLAGS_unit);
  o.unit = FLAGS_unit;
  o.split_units = split_list(FLAGS_split_units);
  std::fprintf(stderr, "planning %s for %s on %d thread(s)...\n", model_spec.c_str(), FLAGS_profile.c_str(), o.threads);
  partition::Plan p = partition::make_plan(g, model_spec, profile, FLAGS_profile, o);
  const std::string text = partition::plan_to_json(p);
  if (!FLAGS_out.empty()) {
    std::ofstream f(FLAGS_out);
    if (!f) throw Error(FLAGS_out, "cannot write the plan");
    f << text << "\n";
  }
  if (FLAGS_json) {
    print_json(nlohmann::json::parse(text));
    return kExitOk;
  }
  std::printf("%-30s %-16s %7s %9s %9s %8s\n", "layer", "setting", "ratio", "dense ms", "ms", "saliency");
  for (const auto& l : p.layers) {
    if (l.dense_ms == 0 && l.ms == 0) continue;  // unit-only entries of a split
    std::string set = runtime::format_name(l.setting.format);
    if (l.setting.format == runtime::Format::kBlock || l.setting.format == runtime::Format::kBlockCol)
      set += " " + std::to_string(l.setting.bf) + "x" + std::to_string(l.setting.bc);
    if (l.setting.format == runtime::Format::kPattern) set += " " + std::to_string(l.setting.entries) + "EP";
    if (l.group >= 0) set += " g" + std::to_string(l.group);
    std::printf("%-30s %-16s %7.2f %9.4f %9.4f %8.3f\n", l.op.substr(0, 30).c_str(), set.c_str(), l.setting.ratio,
                l.dense_ms, l.ms, l.kept_saliency);
    if (FLAGS_verbose)
      for (const auto& [b, ms, sal] : l.block_tradeoff) std::printf("%34s %-10s %9.4f ms %8.3f\n", "", b.c_str(), ms, sal);
  }
  std::printf("\ntarget %.3f ms on %d thread(s); predicted %.3f ms (dense %.3f ms, %.2fx), mean kept saliency %.3f, solver gap %.2f%%\n",
              p.target_ms, p.threads, p.predicted.ms, p.dense_ms, p.dense_ms / p.predicted.ms, p.saliency, 100 * p.solver_gap);
  if (!FLAGS_split_units.empty())
    std::printf("unit split: branches %.3f ms, channel split %s vs one unit %.3f ms -> %s\n", p.split_ms,
                p.channel_split_best ? (std::to_string(p.channel_split_best->predicted_ms) + " ms").c_str() : "none possible",
                p.no_split_ms, p.split.c_str());
  if (p.channel_split)
    std::printf("channel split: op %s, output channels 0..%lld of %lld on %s, the rest on %s\n", p.channel_split->op.c_str(),
                static_cast<long long>(p.channel_split->channels - 1), static_cast<long long>(p.channel_split->of_channels),
                p.channel_split->unit.c_str(), p.channel_split->home.c_str());
  if (!FLAGS_out.empty()) std::printf("plan written to %s\n", FLAGS_out.c_str());
  return kExitOk;
}

const Register reg({"plan", "per-layer formats, block sizes, ratios and unit split within a latency target",
                    "hilsim plan MODEL --profile P (--target-ms T | --target-speedup X) [--formats block,pattern,csr]\n"
                    "                  [--max-ratio R] [--split-units cpu0,cpu1] [--out plan.json] [--json] [--verbose]\n\n"
                    "For every prunable conv and every candidate (format, block size, ratio) the cost model predicts\n"
                    "the layer's latency and the mask generators measure the kept saliency (L2 energy kept) of its\n"
                    "real weights; a multiple-choice knapsack solved by dynamic programming on a latency grid keeps\n"
                    "the most saliency within the target (the gap to its upper bound is printed). Coupled-channel\n"
                    "groups share one decision; the first conv and the output convs stay dense. An unreachable\n"
                    "target is an error that names the fastest reachable latency. Without --threads the plan is for 1\n"
                    "thread (the count is stored in the plan; run, predict and validate use it).\n\n"
                    "--split-units U1,U2[,...] also places branches over the units by simulated makespan (an op\n"
                    "moves only where its time plus its transfers wins), and tries CoDL's channel split: the output\n"
                    "channels of one of the four heaviest dense convs shared between U2 (the first 1/8..7/8) and U1\n"
                    "(the rest, the join and every other op), both at once. The fastest of one unit, the branch split\n"
                    "and the channel split is kept, a split only where it beats one unit by more than 4% (the\n"
                    "multi-unit executor's own cost per op) (split.mode none | branches | channels; the channel split is in\n"
                    "the plan's channel_split field, and `validate` runs it). Only dense convs are split for now.",
                    {"profile", "target_ms", "target_speedup", "formats", "max_ratio", "keep_first_last", "split_units",
                     "out", "json", "verbose", "threads", "unit", "input_shape", "allow_unknown"},
                    run_plan});

}  // namespace
}  // namespace hilsim::cli
