// `hilsim run MODEL`: the hardware-in-the-loop measurement — the model compiled onto hilsim's kernels
// and timed on this machine, op by op, optionally pruned on the fly and split across units.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "command.h"
#include "common_flags.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/partition/channel_split.h"
#include "hilsim/partition/planner.h"
#include "csv_table.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/runtime/measurement_json.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"
#include "hilsim/util/trace.h"

DEFINE_int32(repeat, 20, "timed runs (median, p10, p90 reported)");
DEFINE_int32(warmup, 3, "untimed runs first (caches, page faults, thread start-up)");
DEFINE_string(sparsity, "", "prune on the fly: block:8x4@0.8, block_col:8x4@0.8, pattern:2, csr@0.9, or a JSON file");
DEFINE_string(plan, "", "a plan file from `hilsim plan`: per-op format, block, ratio and unit");
DEFINE_string(units, "", "execution units as pinned core groups, e.g. cpu0:0,cpu1:1; gpu or gpu:CORES is the OpenCL "
                         "device, e.g. cpu0:0,gpu:1");
DEFINE_string(split, "", "with --units: 'branches' places ops on the units as the planner would, 'channels' splits the "
                         "output channels of one conv between the first two units (CoDL), both by the predictions of "
                         "--profile (default: the bundled profile that matches this machine best)");
DEFINE_string(trace, "", "write a Chrome/Perfetto trace (trace-event JSON): run writes one measured run, predict the "
                         "predicted schedule");
DEFINE_string(csv, "", "also write the per-op table to FILE as CSV (one row per op, header first)");
DEFINE_bool(check_overhead, false, "also measure the cost of per-op timing (runs the model twice as often)");

namespace hilsim::cli {
namespace {

// --split branches: which op runs on which unit is the partitioner's choice, from the calibrated
// predictor (the units must be the profile's), so that run measures what plan would choose.
struct Split {
  std::map<std::string, std::string> op_unit;
  std::optional<partition::ChannelSplitChoice> channels;
  double predicted_ms = 0;  // the split's simulated makespan, to set beside the measured one
};
Split split_from_flags(const graph::Graph& g, const runtime::ExecOptions& opts) {
  if (FLAGS_split != "branches" && FLAGS_split != "channels")
    throw Error("--split", "unknown mode '" + FLAGS_split + "' (known: branches, channels)");
  if (opts.units.size() < 2) throw Error("--split", "needs --units with at least two units");
  ProfileFile pf = profile_or_bundled();
  std::vector<std::string> ids;
  for (const auto& u : opts.units) {
    profile_unit_of(pf, u);  // the split is placed by the profile's predictions for these units
    ids.push_back(u.id);
  }
  model::Profile& profile = pf.profile;
  Split s;
  if (FLAGS_split == "channels") {
    // The heaviest dense convs and shares, as `plan --split-units` tries them: the best is run even
    // when one unit alone is predicted faster, so that the prediction can be checked.
    s.channels = partition::best_channel_split(g, profile, opts.sparsity, ids[0], ids[1]);
    if (!s.channels) throw Error("--split channels", "the model has no dense ungrouped conv to split");
    s.predicted_ms = s.channels->predicted_ms;
    return s;
  }
  costmodel::PredictorOptions po;
  po.threads = 1;
  po.default_unit = ids[0];
  costmodel::Predictor pred(g, std::move(profile), po);
  s.op_unit = partition::split_branches(pred, opts.sparsity, ids);
  s.predicted_ms = pred.predict_placed(opts.sparsity, ids).ms;  // the schedule the placement came from
  return s;
}

int run_run(const std::vector<std::string>& args) {
  const std::string& model_spec = model_arg(args, "run");
  if (FLAGS_repeat < 1 || FLAGS_warmup < 0) throw Error("--repeat/--warmup", "repeat must be >= 1 and warmup >= 0");
  if (!FLAGS_trace.empty()) check_writable(FLAGS_trace, "--trace");
  if (!FLAGS_csv.empty()) check_writable(FLAGS_csv, "--csv");
  graph::Graph g = load_model_from_flags(model_spec);
  std::optional<partition::Plan> plan;
  if (!FLAGS_plan.empty()) plan = load_plan_for(FLAGS_plan, g);
  const int threads = threads_from_flags(plan ? plan->threads : 0);
  runtime::RunConfigRequest req;
  req.threads = threads;
  req.sparsity = FLAGS_sparsity;
  req.plan_path = FLAGS_plan;
  req.units = FLAGS_units;
  runtime::ExecOptions opts = runtime::make_exec_options(req);
  if (plan && plan->channel_split) {
    // Unpinned ops run on the first unit: the split's home must be it.
    const partition::ChannelSplitChoice& c = *plan->channel_split;
    if (opts.units.empty() || opts.units[0].id != c.home)
      throw Error("--units", "the plan splits op '" + c.op + "' between '" + c.home + "' and '" + c.unit + "' and keeps every "
                             "other op on '" + c.home + "': give --units with '" + c.home + "' first");
    opts.channel_splits[c.op] = {c.unit, c.channels};
  }
  Split split;
  if (!FLAGS_split.empty()) {
    split = split_from_flags(g, opts);
    opts.op_unit = split.op_unit;
    if (const auto& c = split.channels) {
      opts.channel_splits[c->op] = {c->unit, c->channels};
      std::fprintf(stderr, "channel split: op %s, %lld of %lld output channels on %s; predicted makespan %.3f ms\n",
                   c->op.c_str(), static_cast<long long>(c->channels), static_cast<long long>(c->of_channels),
                   c->unit.c_str(), split.predicted_ms);
    } else {
      std::fprintf(stderr, "branch split: predicted makespan %.3f ms\n", split.predicted_ms);
    }
  }
  runtime::Executor ex(g, opts);
  runtime::TensorMap inputs = runtime::random_inputs(ex.compiled_graph());
  std::fprintf(stderr, "measuring %s: %d warm-up + %d timed runs...\n", model_spec.c_str(), FLAGS_warmup, FLAGS_repeat);
  runtime::Measurement m = runtime::measure(ex, inputs, FLAGS_warmup, FLAGS_repeat, FLAGS_check_overhead);
  const auto& ops = ex.ops();
  // Ops on the naive reference path run 10-20x slower than a kernel: say so, so nobody reads their
  // times as hilsim's.
  std::vector<size_t> reference_ops;
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].kernel == "reference") reference_ops.push_back(i);
  if (!reference_ops.empty()) {
    std::fprintf(stderr, "warning: %zu op(s) run on the naive reference path, not a native kernel:\n",
                 reference_ops.size());
    for (size_t i : reference_ops) std::fprintf(stderr, "  %s (%s)\n", ops[i].name.c_str(), ops[i].type.c_str());
  }

  if (!FLAGS_trace.empty()) {
    runtime::RunTiming t;
    ex.run(inputs, &t);
    std::vector<TraceEvent> ev;
    for (size_t i = 0; i < ops.size(); ++i)
      ev.push_back({ops[i].name, "kernel", ops[i].unit, t.op_start_ms[i] * 1e3, t.op_ms[i] * 1e3,
                    {{"kernel", ops[i].kernel}, {"format", ops[i].format},
                     {"transfer_ms", std::to_string(t.op_transfer_ms[i])}}});
    write_trace(FLAGS_trace, ev, "hilsim run " + model_spec, {{"kind", "measured"}, {"model", model_spec}});
  }

  if (!FLAGS_csv.empty()) {
    CsvTable t({"name", "type", "kernel", "unit", "format", "measured_ms_median", "macs", "executed_macs",
                "weight_bytes", "kept_saliency", "class"});
    for (size_t i = 0; i < ops.size(); ++i)
      t.row().cell(ops[i].name).cell(ops[i].type).cell(ops[i].kernel).cell(ops[i].unit).cell(ops[i].format)
          .cell(m.op_ms_median[i]).cell(static_cast<long long>(ops[i].macs))
          .cell(static_cast<long long>(ops[i].executed_macs)).cell(static_cast<long long>(ops[i].weight_bytes))
          .cell(ops[i].kept_saliency).cell(model::run_op_class(ops[i].type, ops[i].kernel));
    t.write(FLAGS_csv, "--csv");
  }

  if (FLAGS_json) {
    nlohmann::json j;
    j["model"] = model_spec;
    j["threads"] = threads;
    nlohmann::json jo = nlohmann::json::array();
    for (size_t i = 0; i < ops.size(); ++i) {
      jo.push_back(runtime::measured_op_json(ops[i], m.op_ms_median[i]));
      jo.back()["class"] = model::run_op_class(ops[i].type, ops[i].kernel);
    }
    j["ops"] = jo;
    j["reference_ops"] = reference_ops.size();
    nlohmann::json jr = nlohmann::json::array();
    for (size_t i : reference_ops) jr.push_back({{"name", ops[i].name}, {"type", ops[i].type}});
    j["reference_op_names"] = jr;
    j["total"] = runtime::measured_total_json(ex, m);
    if (FLAGS_check_overhead) j["total"]["timing_overhead_pct"] = m.timing_overhead_pct;
    if (!FLAGS_split.empty()) j["total"]["split_predicted_ms"] = split.predicted_ms;
    nlohmann::json ju = nlohmann::json::array();
    for (const auto& u : ex.units()) ju.push_back({{"id", u.id}, {"kind", u.kind}, {"cpus", u.cpus}});
    j["units"] = ju;
    print_json(j);
    return kExitOk;
  }
  double sum = 0;
  for (double v : m.op_ms_median) sum += v;
  std::printf("%-34s %-16s %-36s %-6s %9s %7s\n", "name", "type", "kernel", "unit", "ms", "share");
  for (size_t i = 0; i < ops.size(); ++i)
    std::printf("%-34s %-16s %-36s %-6s %9.4f %6.1f%%\n", ops[i].name.substr(0, 34).c_str(),
                ops[i].type.substr(0, 16).c_str(), ops[i].kernel.substr(0, 36).c_str(), ops[i].unit.c_str(),
                m.op_ms_median[i], sum > 0 ? 100.0 * m.op_ms_median[i] / sum : 0.0);
  std::printf("\ntotal: median %.3f ms (p10 %.3f, p90 %.3f) over %d runs, %d thread(s), %zu unit(s)\n", m.ms_median,
              m.ms_p10, m.ms_p90, m.repeat, threads, ex.units().size());
  if (m.transfer_ms_median > 0)
    std::printf("gpu unit copies to and from the device: %.3f ms per run (median)\n", m.transfer_ms_median);
  if (m.crossings) std::printf("crossings between units: %d per run, waiting %.3f ms (median)\n", m.crossings, m.wait_ms_median);
  std::printf("activation arena %s (peak live %s)\n", human_bytes(static_cast<double>(ex.arena_bytes())).c_str(),
              human_bytes(static_cast<double>(ex.peak_live_bytes())).c_str());
  if (FLAGS_check_overhead) std::printf("per-op timing overhead: %.2f%%\n", m.timing_overhead_pct);
  return kExitOk;
}

const Register reg({"run", "run a model on hilsim's kernels on this machine and time every op",
                    "hilsim run MODEL [--threads N] [--repeat N] [--warmup N] [--sparsity SPEC | --plan P]\n"
                    "                 [--units SPEC [--split branches|channels [--profile P]]] [--json] [--trace FILE]\n"
                    "                 [--csv FILE]\n\n"
                    "Compiles MODEL (canonical passes: re-parameterise, fold BN, fuse activations; weights packed\n"
                    "once; one activation arena) and measures it: warm-up runs, then timed runs with per-op clocks.\n"
                    "--sparsity prunes the convs on the fly with the mask generators and runs the sparse kernels.\n"
                    "--units runs ops on groups of pinned cores with real hand-offs for tensors that cross units;\n"
                    "--split branches places the ops on them as `hilsim plan` would, by the profile's predictions,\n"
                    "and prints that placement's predicted makespan (total.split_predicted_ms with --json); a gpu\n"
                    "unit needs a profile calibrated with `calibrate --units gpu`. --split channels runs the\n"
                    "predicted best CoDL channel split of one dense conv (its first output channels on the second\n"
                    "unit, the rest and every other op on the first; ops NAME/ch0, NAME/ch1, NAME/join), even\n"
                    "when one unit alone is predicted faster, so that its prediction can be checked.\n"
                    "a unit named gpu (gpu:CORES pins its host thread, and PoCL's threads, to CORES) runs its ops\n"
                    "on the OpenCL device with timed copies in and out (ops with no OpenCL kernel run on its host\n"
                    "thread, kernel named host_*). Without --split or a plan every op runs on the first unit.\n"
                    "Random inputs in [-1, 1] with a fixed seed. Without --threads it runs on 1 thread, or the plan's\n"
                    "count with --plan. --csv writes the per-op table (name, type, kernel, unit, format, measured ms,\n"
                    "MACs, bytes) to a file.",
                    {"threads", "repeat", "warmup", "sparsity", "plan", "units", "split", "profile", "trace", "json",
                     "check_overhead", "input_shape", "csv"},
                    run_run});

}  // namespace
}  // namespace hilsim::cli
