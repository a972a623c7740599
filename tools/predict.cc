// `hilsim predict MODEL --profile P`: predicted latency, memory access cost, energy and peak memory of a
// (possibly pruned, possibly split) model on a device, from the device's profile alone.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "csv_table.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/costmodel/prediction_json.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"
#include "hilsim/util/trace.h"

DEFINE_string(profile, "", "device profile JSON (device_profiles/*.json)");
DEFINE_string(unit, "",
              "predict: default unit of the profile for ops the config does not place (default: its first unit); "
              "bench-kernels: cpu (default) or gpu (our OpenCL kernels vs CLBlast)");
DEFINE_bool(allow_extrapolation, false, "answer kernel classes the profile lacks with its roofline instead of failing");
DEFINE_bool(compare, false, "also run the model on this machine and print predicted vs measured per op");

namespace hilsim::cli {
namespace {

int run_predict(const std::vector<std::string>& args) {
  const std::string& model_spec = model_arg(args, "predict");
  required_profile("predict");
  if (!FLAGS_sparsity.empty() && !FLAGS_plan.empty()) throw Error("--sparsity/--plan", "give one of them, not both");
  if (!FLAGS_trace.empty()) check_writable(FLAGS_trace, "--trace");
  if (!FLAGS_csv.empty()) check_writable(FLAGS_csv, "--csv");
  graph::Graph g = load_model_from_flags(model_spec);
  int plan_threads = 0;
  if (!FLAGS_plan.empty()) {
    const partition::Plan plan = load_plan_for(FLAGS_plan, g);
    if (plan.channel_split)
      throw Error(FLAGS_plan, "not supported yet: predicting a channel-split plan here (its makespan is the plan's "
                              "predicted.ms; `hilsim run --plan` and `validate` measure it)");
    plan_threads = plan.threads;
  }
  const model::Profile profile = model::load_profile(FLAGS_profile);
  costmodel::PredictorOptions po;
  po.threads = threads_from_flags(plan_threads, &profile, FLAGS_unit);
  po.default_unit = FLAGS_unit;
  po.allow_extrapolation = FLAGS_allow_extrapolation;
  // --compare runs here: the count must suit this machine too.
  if (FLAGS_compare) threads_from_flags(plan_threads);
  note_about_profile(profile, FLAGS_profile, FLAGS_compare ? model::ProfileNoteScope::kMachine : model::ProfileNoteScope::kKernels);
  costmodel::Predictor pred(g, profile, po);
  runtime::SparsitySpec cfg;
  if (!FLAGS_sparsity.empty()) cfg = runtime::parse_sparsity_spec(FLAGS_sparsity);
  if (!FLAGS_plan.empty()) cfg = runtime::load_plan_layers(FLAGS_plan);
  costmodel::Prediction p = pred.predict(cfg, !FLAGS_trace.empty());
  if (!FLAGS_trace.empty())
    write_trace(FLAGS_trace, p.trace, "hilsim predict " + model_spec,
                {{"kind", "predicted"}, {"model", model_spec}, {"profile", FLAGS_profile}});

  // --compare: the executor on this machine, same canonical graph and config.
  std::vector<double> measured;
  double measured_total = -1, measured_median = -1;
  int measured_threads = 0;
  HostSpeed host;
  if (FLAGS_compare) {
    runtime::RunConfigRequest req;
    // Measure with the threads the prediction is for: without --threads that is the unit's own count
    // (a 2-thread prediction was compared with a 1-thread run and looked 40% off).
    req.threads = pred.default_threads();
    req.sparsity = FLAGS_sparsity;
    req.plan_path = FLAGS_plan;
    runtime::ExecOptions eo = runtime::make_exec_options(req);
    eo.op_unit.clear();
    eo.units.clear();
    runtime::Executor ex(g, eo);
    runtime::Measurement m = runtime::measure(ex, runtime::random_inputs(ex.compiled_graph()), 3, FLAGS_repeat);
    std::map<std::string, double> by_name;
    // The 10th percentile of the runs, the statistic calibration fits (calibration::fit_ms): a
    // neighbour's burst only ever adds time, so on a shared machine the median is partly noise.
    for (size_t i = 0; i < ex.ops().size(); ++i) by_name[ex.ops()[i].name] = calibration::quantile(m.op_run_ms[i], 0.1);
    for (const auto& op : p.ops) measured.push_back(by_name.count(op.name) ? by_name[op.name] : -1.0);
    measured_total = m.ms_p10;
    measured_median = m.ms_median;
    measured_threads = req.threads;
    host = measure_host_speed(profile, nullptr, measured_threads);
  }

  if (!FLAGS_csv.empty()) {
    std::vector<std::string> cols = {"name", "type", "kernel", "unit", "format", "ms", "bytes", "dram_bytes",
                                     "cache_bytes", "energy_mj", "macs", "executed_macs", "weight_bytes",
                                     "start_ms", "end_ms", "model", "extrapolated", "class"};
    if (FLAGS_compare) cols.push_back("measured_ms_p10");
    CsvTable t(cols);
    for (size_t i = 0; i < p.ops.size(); ++i) {
      const auto& o = p.ops[i];
      t.row().cell(o.name).cell(o.type).cell(o.kernel).cell(o.unit).cell(o.format).cell(o.ms)
          .cell(static_cast<long long>(o.bytes)).cell(static_cast<long long>(o.dram_bytes))
          .cell(static_cast<long long>(o.cache_bytes)).cell(o.energy_mj).cell(static_cast<long long>(o.macs))
          .cell(static_cast<long long>(o.executed_macs)).cell(static_cast<long long>(o.weight_bytes))
          .cell(o.start_ms).cell(o.end_ms).cell(o.model).cell(o.extrapolated).cell(o.klass);
      if (FLAGS_compare) t.cell(measured[i]);
    }
    t.write(FLAGS_csv, "--csv");
  }

  if (FLAGS_json) {
    nlohmann::json j;
    j["model"] = model_spec;
    j["profile"] = FLAGS_profile;
    j["threads"] = pred.default_threads();
    nlohmann::json ops = nlohmann::json::array();
    for (size_t i = 0; i < p.ops.size(); ++i) {
      nlohmann::json jo = costmodel::op_prediction_json(p.ops[i]);
      if (FLAGS_compare) jo["measured_ms_p10"] = measured[i];
      ops.push_back(jo);
    }
    j["ops"] = ops;
    j["total"] = costmodel::prediction_total_json(p);
    if (FLAGS_compare) {
      j["total"]["measured_ms_p10"] = measured_total;
      j["total"]["measured_ms_median"] = measured_median;
      j["total"]["measured_threads"] = measured_threads;
      j["total"]["measured_runs"] = FLAGS_repeat;
      if (host.slowdown > 0) j["total"]["host_slowdown"] = host.slowdown;
      if (host.parallel_slowdown > 0) j["total"]["host_parallel_slowdown"] = host.parallel_slowdown;
    }
    j["unit_busy_ms"] = p.unit_busy_ms;
    j["notes"] = model_notes();
    print_json(j);
    return kExitOk;
  }
  std::printf("%-32s %-36s %-18s %-8s %9s %10s %9s%s\n", "name", "kernel", "class", "unit", "ms", "bytes", "mJ",
              FLAGS_compare ? "  measured    err" : "");
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const auto& o = p.ops[i];
    std::string k = o.klass + (o.model == "roofline" ? "*" : "") + (o.extrapolated ? "!" : "");
    std::printf("%-32s %-36s %-18s %-8s %9.4f %10s %9.4f", o.name.substr(0, 32).c_str(), o.kernel.substr(0, 36).c_str(),
                k.substr(0, 18).c_str(), o.unit.c_str(), o.ms, human_bytes(static_cast<double>(o.bytes)).c_str(), o.energy_mj);
    if (FLAGS_compare && measured[i] > 0)
      std::printf("  %8.4f %+6.1f%%", measured[i], 100.0 * (o.ms - measured[i]) / measured[i]);
    std::printf("\n");
  }
  std::printf("\npredicted on %d thread(s): %.3f ms (sum of ops %.3f ms), %s moved (%s from DRAM), %.3f mJ (%s: dynamic %.3f + static %.3f),"
              " peak memory %s (activations %s + weights %s)\n",
              pred.default_threads(), p.ms, p.sum_ms, human_bytes(static_cast<double>(p.bytes)).c_str(),
              human_bytes(static_cast<double>(p.dram_bytes)).c_str(), p.energy_mj, p.energy_source.c_str(), p.dynamic_mj,
              p.static_mj, human_bytes(static_cast<double>(p.peak_memory_bytes)).c_str(),
              human_bytes(static_cast<double>(p.activation_peak_bytes)).c_str(),
              human_bytes(static_cast<double>(p.weight_bytes)).c_str());
  if (p.transfers) std::printf("unit crossings: %d, %.3f ms of transfer + sync\n", p.transfers, p.transfer_ms);
  if (p.roofline_ops) std::printf("* %d ops have no fitted model in this profile: roofline estimate\n", p.roofline_ops);
  if (p.extrapolated_ops) std::printf("! %d ops lie outside the calibrated range (extrapolated)\n", p.extrapolated_ops);
  if (p.older_class_ops)
    std::printf("%d ops have a class this profile predates: priced by the class that priced them then "
                "(recalibrate for their own)\n", p.older_class_ops);
  if (FLAGS_compare)
    std::printf("measured on this machine (%d thread(s), p10 of %d runs; per-op columns too): %.3f ms (prediction "
                "%+.1f%%); median %.3f ms\n", measured_threads, FLAGS_repeat, measured_total,
                100.0 * (p.ms - measured_total) / measured_total, measured_median);
  if (!host.line.empty()) std::printf("%s\n", host.line.c_str());
  return kExitOk;
}

const Register reg({"predict", "predicted latency, bytes, energy and peak memory of a model on a device",
                    "hilsim predict MODEL --profile P [--sparsity SPEC | --plan P] [--threads N] [--unit U]\n"
                    "                     [--json] [--trace FILE] [--compare] [--csv FILE]\n\n"
                    "Per kernel instance (after re-parameterisation, BN folding and activation fusion; sparse\n"
                    "formats from SPEC or the plan) the profile's fitted model for its class gives the time;\n"
                    "a conv's kernel is named as `hilsim run` names it on the profile's machine (ISA from the\n"
                    "profile's recorded extensions), beside the class that priced it (README: Kernel names).\n"
                    "classes the profile lacks fall back to its roofline (marked *). Bytes are the memory access\n"
                    "cost in storage format, split by level; energy = pJ/FLOP x FLOPs + pJ/byte x bytes by level\n"
                    "+ static power x time, with the coefficients' source shown. A list-scheduling simulator\n"
                    "gives the makespan over the profile's units, with transfer + sync for crossing tensors.\n"
                    "Without --threads the prediction (and --compare's run) is for 1 thread, or the plan's count with\n"
                    "--plan; --threads must lie in 1..4x the unit's cores.\n"
                    "--compare also times the profile's speed reference, where it has one, and says how much\n"
                    "slower or faster this host is than when the profile was calibrated.\n"
                    "--csv writes the per-op table (name, type, kernel, unit, format, ms, bytes by level, energy,\n"
                    "MACs, schedule, model, class; measured ms with --compare) to a file.",
                    {"profile", "sparsity", "plan", "threads", "unit", "json", "trace", "compare", "repeat", "allow_extrapolation",
                     "input_shape", "allow_unknown", "csv"},
                    run_predict});

}  // namespace
}  // namespace hilsim::cli
