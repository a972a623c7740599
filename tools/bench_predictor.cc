// `hilsim bench-predictor`: how right the cost model is on this machine. Ground truth is the executor
// (`hilsim run`) with the profile calibrated here, over the zoo models dense and in sparse / split
// configurations; next to two baselines fitted on the same calibration samples: latency proportional
// to MACs (the FLOPs proxy) and a plain roofline.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <memory>
#include <numeric>
#include <random>

#include "command.h"
#include "common_flags.h"
#include "zoo_configs.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/model/instances.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/op_lowering.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/runtime/units.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"

DEFINE_string(suite, "zoo",
              "bench-predictor, bench-planner --units: 'zoo' (the built-in models), or a directory of a real-model "
              "suite (ONNX files and the index.txt that tests/models/real_models.py DIR --suite bench writes)");
DEFINE_string(thread_counts, "1", "bench-predictor: comma-separated thread counts to measure and predict each model at");
DEFINE_string(per_op_out, "",
              "bench-predictor: also write every compared op (model, config, threads, op, type, class, layer kind, "
              "measured_ms p10, predicted_ms, in/out/weight bytes, inputs, window ops) to this CSV file");

DEFINE_string(compare_profile, "",
              "bench-predictor: a second profile scored on the same measured runs (end to end and per kernel "
              "class), so that two calibrations compare without the run-to-run noise between two benchmarks");

namespace hilsim::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRounds = 3;

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  auto ranks = [](const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size(); ++i) r[idx[i]] = static_cast<double>(i);
    return r;
  };
  const auto ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  return n > 1 ? 1.0 - 6.0 * d2 / (n * (n * n - 1)) : 1.0;
}

// The p10 of each round's runs (runs holds kRounds chunks of `per_round`, round after round).
std::vector<double> round_p10s(const std::vector<double>& runs, int per_round) {
  std::vector<double> out;
  for (size_t a = 0; a + static_cast<size_t>(per_round) <= runs.size(); a += static_cast<size_t>(per_round))
    out.push_back(calibration::quantile(std::vector<double>(runs.begin() + static_cast<std::ptrdiff_t>(a),
                                                            runs.begin() + static_cast<std::ptrdiff_t>(a) + per_round),
                                        0.1));
  return out;
}

// (b - a) / a over every pair of rounds: how far the measurement disagrees with itself.
void add_round_pairs(const std::vector<double>& p10s, std::vector<double>* diffs) {
  for (size_t i = 0; i < p10s.size(); ++i)
    for (size_t j = i + 1; j < p10s.size(); ++j)
      if (p10s[i] > 0) diffs->push_back((p10s[j] - p10s[i]) / p10s[i]);
}

// A conv's or a pool's shape for the per-op table: the facts its class's features are made of.
std::string op_shape_text(const graph::Graph& g, const graph::Op& op) {
  auto n = [](int64_t v) { return std::to_string(v); };
  if (op.type == "Conv" && op.inputs.size() >= 2 && g.is_constant(op.inputs[1])) {
    const kernels::ConvShape s = runtime::conv_shape_of(g, op);
    return "c" + n(s.c) + "f" + n(s.f) + "h" + n(s.h) + "w" + n(s.w) + "k" + n(s.kh) + "x" + n(s.kw) + "s" + n(s.stride_h) +
           "g" + n(s.groups);
  }
  if (auto ps = runtime::pool2d_shape_of(g, op))
    return "c" + n(ps->c) + "h" + n(ps->h) + "w" + n(ps->w) + "k" + n(ps->kh) + "x" + n(ps->kw) + "s" + n(ps->stride_h) +
           "o" + n(ps->out_h) + "x" + n(ps->out_w);
  return "";
}

std::vector<int> parse_thread_counts(const std::string& s) {
  std::vector<int> r;
  for (const std::string& t : split_list(s)) {
    char* end = nullptr;
    const long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v < 1 || v > 256)
      throw Error("--thread-counts", "'" + t + "' is not a thread count (1..256)");
    r.push_back(static_cast<int>(v));
  }
  if (r.empty()) throw Error("--thread-counts", "is empty");
  return r;
}

int run_bench(const std::vector<std::string>& args) {
  no_positional_args(args, "bench-predictor");
  const ProfileFile pf = profile_or_bundled();
  const std::string& profile_path = pf.path;
  const model::Profile& profile = pf.profile;
  const calibration::SampleSet samples = calibration::load_samples(profile_path + ".samples.json");
  // FLOPs baseline: ms = a x executed MACs + b x calls, fitted on the same samples (1 thread).
  double sxx = 0, sxy = 0, n1 = 0, sy = 0, sx = 0;
  for (const auto& s : samples.samples) {
    if (calibration::sample_threads(s) != 1) continue;
    const double x = s.features.count("macs") ? s.features.at("macs") : 0;
    const double t = calibration::fit_ms(s);
    sxx += x * x, sxy += x * t, sx += x, sy += t, n1 += 1;
  }
  const double slope = (n1 * sxy - sx * sy) / std::max(1e-30, n1 * sxx - sx * sx);
  const double call = std::max(0.0, (sy - slope * sx) / std::max(1.0, n1));
  const model::UnitSpec* cpu0 = profile.unit("cpu0");
  const double peak = cpu0 ? cpu0->peak_gflops : 100, bw = cpu0 ? cpu0->mem_gbps : 10;
  // The second profile: its predictions of the same configurations, against the same measurements.
  std::unique_ptr<model::Profile> other;
  if (!FLAGS_compare_profile.empty()) {
    other = std::make_unique<model::Profile>(model::load_profile(FLAGS_compare_profile));
    note_about_profile(*other, FLAGS_compare_profile, model::ProfileNoteScope::kMachine);
  }

  // The models: the zoo by name, or a real-model suite (a directory that tests/models/real_models.py
  // wrote with --suite bench: NAME.onnx files listed in index.txt).
  std::vector<SuiteModel> models;
  const bool zoo = FLAGS_suite == "zoo";
  if (zoo) {
    models = zoo_bench_models();
    if (FLAGS_quick) models = {{"resnet18_like", "zoo:resnet18_like"}, {"mobilenetv2_like", "zoo:mobilenetv2_like"}};
  } else {
    models = suite_models(FLAGS_suite);
  }
  const std::vector<int> thread_counts = parse_thread_counts(FLAGS_thread_counts);
  // --units U: every op of every configuration on the one unit U (gpu:1 is the OpenCL device driven from
  // core 1), predicted with the profile's unit of that id: the figures of that unit alone.
  std::vector<runtime::UnitDef> units;
  std::string unit_id = "cpu0";
  if (!FLAGS_units.empty()) {
    units = runtime::parse_units(FLAGS_units);
    if (units.size() != 1) throw Error("--units", "bench-predictor measures one unit at a time, '" + FLAGS_units + "' names " +
                                                      std::to_string(units.size()));
    unit_id = units[0].id;
    profile_unit_of(pf, units[0]);
    if (thread_counts != std::vector<int>{1})
      throw Error("--thread-counts", "with --units the unit's own cores set the threads (leave --thread-counts out)");
  }
  const bool gpu_run = !units.empty() && units[0].kind == "gpu";
  // PoCL runs a model ~20x slower than the CPU kernels: fewer runs a round keep a suite within minutes.
  const int repeat = FLAGS_quick || gpu_run ? 5 : 9;
  struct Row {
    std::string model, config;
    int threads;
    double measured, ours, flops, roofline;
    double spread;  // p90 / p10 of the configuration's runs: how disturbed the machine was
    double other = 0;  // --compare-profile's prediction
    // --units gpu: the copies between the host and the device per run, measured (median over rounds,
    // each the median of its runs) and predicted (the ops' transfer_ms).
    double transfer_measured = 0, transfer_predicted = 0;
  };
  std::vector<Row> rows;
  std::map<std::string, std::vector<double>> class_errs;  // kernel class -> signed relative errors
  std::map<std::string, std::vector<double>> group_errs;  // layer kind (model::op_group) -> the same
  std::map<std::string, std::vector<double>> other_class_errs;  // --compare-profile's, on the same ops
  // Every compared op, for --per-op-out: a class's median names the bias, these rows show its shapes.
  std::ostringstream per_op;
  per_op << "model,config,threads,op,type,class,layer_kind,measured_ms,predicted_ms,in_bytes,out_bytes,weight_bytes,"
            "inputs,window_ops,macs,shape"
         << (other ? ",compared_ms\n" : "\n");
  std::mt19937 rng(7);
  // The ground truth against itself: each round's p10 against the other rounds', end to end and per op.
  // On a shared host this is the floor under any model's error against one measurement.
  std::vector<double> round_diffs, op_round_diffs;
  // The profile's speed reference, timed before every round: how much of the gap is the host.
  std::vector<double> ref_runs;
  std::unique_ptr<calibration::SpeedReferenceRun> ref;
  // Only a reference of this build's workload and kernels can be compared (measure_host_speed ignores any other).
  if (calibration::speed_reference_comparable(profile.device)) ref = std::make_unique<calibration::SpeedReferenceRun>();
  // And split over the threads the profile timed it on, when those are measured here: a shared VM's other
  // vCPU comes and goes apart from the first (calibrations minutes apart read 1.53-1.83x at two threads),
  // so a multi-thread gap can be the host's even when the one-thread reading says it is unchanged.
  const int par_threads = profile.device.speed_reference.parallel_threads;
  std::vector<double> par_runs;
  std::unique_ptr<calibration::SpeedReferenceRun> par_ref;
  if (ref && par_threads > 1 && profile.device.speed_reference.parallel_ms > 0 &&
      std::find(thread_counts.begin(), thread_counts.end(), par_threads) != thread_counts.end())
    par_ref = std::make_unique<calibration::SpeedReferenceRun>(par_threads);
  // Models are measured in groups: every configuration of a group is compiled first and measured in
  // rounds over all of them, so the rounds of one configuration lie a whole pass over the group apart
  // (about 20 s for the zoo) and a slow phase of the shared machine that lasts longer than one model's
  // configurations cannot spoil all its rounds. The zoo is one group. A real-model suite is measured a
  // model at a time, as its compiled weights would not fit in memory together, in one pass over the
  // suite per round (each model compiled again, its configurations drawn again from its own seed): with
  // its rounds back to back, a slow phase spoiled all of a model's rounds alike (RegNetY at 2 threads read
  // 14.5 ms in every round of one run and 11.4 ms in four runs minutes later) and hid from the
  // round-to-round figure.
  struct ModelRun {
    std::string name;
    int threads = 1;
    std::unique_ptr<costmodel::Predictor> pred;
    std::unique_ptr<costmodel::Predictor> other_pred;  // --compare-profile
    std::vector<BenchConfig> cfgs;
    std::vector<std::unique_ptr<runtime::Executor>> exs;
    std::vector<runtime::TensorMap> ins;
    // Per configuration, every timed run of every round: totals and per-op times.
    std::vector<std::vector<double>> totals;
    std::vector<std::vector<std::vector<double>>> op_times;
    std::vector<std::vector<double>> transfers;  // per configuration, each round's median copy time per run
  };
  std::vector<std::vector<size_t>> groups;
  if (zoo) {
    groups.emplace_back();
    for (size_t i = 0; i < models.size(); ++i) groups.back().push_back(i);
  } else {
    for (size_t i = 0; i < models.size(); ++i) groups.push_back({i});
  }
  const int passes = zoo ? 1 : kRounds, rounds_per_pass = kRounds / passes;
  // A suite's runs between passes: per (model, threads), every configuration's totals, op times and copies.
  struct KeptRuns {
    std::vector<std::vector<double>> totals;
    std::vector<std::vector<std::vector<double>>> op_times;
    std::vector<std::vector<double>> transfers;
  };
  std::map<std::pair<size_t, int>, KeptRuns> kept;
  for (int pass = 0; pass < passes; ++pass) {
    const bool last_pass = pass + 1 == passes;
    size_t done_models = 0;
    for (const auto& group : groups) {
      std::vector<ModelRun> runs;
      std::vector<size_t> run_model;
      for (size_t mi : group) {
        graph::Graph g = graph::load_model(models[mi].spec);
        std::mt19937 model_rng(static_cast<std::mt19937::result_type>(7 + 7919 * mi));  // the same draws every pass
        for (int threads : thread_counts) {
          runs.push_back({models[mi].name, threads,
                          std::make_unique<costmodel::Predictor>(g, profile, costmodel::PredictorOptions{threads, unit_id}),
                          nullptr, {}, {}, {}, {}, {}});
          run_model.push_back(mi);
          ModelRun& run = runs.back();
          if (other && last_pass)
            run.other_pred = std::make_unique<costmodel::Predictor>(g, *other, costmodel::PredictorOptions{threads, unit_id});
          run.cfgs = !units.empty() ? unit_bench_configs()
                     : zoo          ? zoo_bench_configs(g, *run.pred, rng)
                                    : real_model_bench_configs(*run.pred, model_rng);
          for (const BenchConfig& c : run.cfgs) {
            runtime::ExecOptions eo;
            eo.threads = threads;
            eo.sparsity = c.spec;
            eo.units = units.empty() ? c.units : units;
            for (const auto& [op, ls] : c.spec.layers)
              if (!ls.unit.empty()) eo.op_unit[op] = ls.unit;
            run.exs.push_back(std::make_unique<runtime::Executor>(g, eo));
            run.ins.push_back(runtime::random_inputs(run.exs.back()->compiled_graph()));
          }
          run.totals.resize(run.cfgs.size());
          run.op_times.resize(run.cfgs.size());
          run.transfers.resize(run.cfgs.size());
          if (auto k = kept.find({mi, threads}); k != kept.end()) {
            run.totals = std::move(k->second.totals);
            run.op_times = std::move(k->second.op_times);
            run.transfers = std::move(k->second.transfers);
            kept.erase(k);
          }
        }
      }
      // Ground truth is the 10th percentile of all runs of a configuration, every round pooled — the same
      // statistic calibration fits (calibration::fit_ms): on a shared machine a neighbour's burst only
      // ever adds time, and where bursts are frequent (p90/p10 of 1.5 within one round was seen) a
      // round's median is itself disturbed, so comparing a p10-fitted prediction with it reads the noise
      // as a 20% model bias.
      for (int round = pass * rounds_per_pass; round < (pass + 1) * rounds_per_pass; ++round) {
        if (ref) {
          const auto t = ref->time(FLAGS_quick ? 8 : 15);
          ref_runs.insert(ref_runs.end(), t.begin(), t.end());
        }
        if (par_ref) {
          const auto t = par_ref->time(FLAGS_quick ? 8 : 15);
          par_runs.insert(par_runs.end(), t.begin(), t.end());
        }
        for (ModelRun& run : runs)
          for (size_t ci = 0; ci < run.cfgs.size(); ++ci) {
            std::fprintf(stderr, "\r  [%zu/%zu] %-24s %dT %-22s round %d   ", done_models + 1, models.size(),
                         run.name.substr(0, 24).c_str(), run.threads, run.cfgs[ci].name.substr(0, 22).c_str(), round + 1);
            // Two warm-up runs after each compile, one before each later round.
            runtime::Measurement mm =
                runtime::measure(*run.exs[ci], run.ins[ci], round == pass * rounds_per_pass ? 2 : 1, repeat);
            run.totals[ci].insert(run.totals[ci].end(), mm.run_ms.begin(), mm.run_ms.end());
            run.transfers[ci].push_back(mm.transfer_ms_median);
            auto& ot = run.op_times[ci];
            ot.resize(mm.op_run_ms.size());
            for (size_t i = 0; i < ot.size(); ++i) ot[i].insert(ot[i].end(), mm.op_run_ms[i].begin(), mm.op_run_ms[i].end());
          }
      }
      if (!last_pass) {
        for (size_t r = 0; r < runs.size(); ++r)
          kept[{run_model[r], runs[r].threads}] = {std::move(runs[r].totals), std::move(runs[r].op_times),
                                                   std::move(runs[r].transfers)};
        done_models += group.size();
        continue;
      }
      for (ModelRun& run : runs) {
        costmodel::Predictor& pred = *run.pred;
        for (size_t ci = 0; ci < run.cfgs.size(); ++ci) {
          const BenchConfig& c = run.cfgs[ci];
          const runtime::Executor& ex = *run.exs[ci];
          const double measured_ms = calibration::quantile(run.totals[ci], 0.1);
          const costmodel::Prediction p = pred.predict(c.spec);
          double flops_ms = 0, roof_ms = 0;
          for (const auto& o : p.ops) {
            // Both baselines are one-thread figures; spread over the threads as a perfect split would.
            flops_ms += (slope * static_cast<double>(o.executed_macs) + call) / run.threads;
            roof_ms += 1e3 * std::max(2.0 * o.executed_macs / (peak * 1e9 * run.threads),
                                      static_cast<double>(o.bytes) / (bw * 1e9));
          }
          rows.push_back({run.name, c.name, run.threads, measured_ms, p.ms, flops_ms, roof_ms,
                          calibration::quantile(run.totals[ci], 0.9) / std::max(1e-9, measured_ms)});
          if (gpu_run) {
            rows.back().transfer_measured = calibration::quantile(run.transfers[ci], 0.5);
            for (const auto& o : p.ops) rows.back().transfer_predicted += o.transfer_ms;
          }
          std::map<std::string, double> other_ms;  // op -> --compare-profile's prediction
          if (run.other_pred) {
            const costmodel::Prediction q = run.other_pred->predict(c.spec);
            rows.back().other = q.ms;
            for (const auto& o : q.ops) other_ms[o.name] = o.ms;
          }
          add_round_pairs(round_p10s(run.totals[ci], repeat), &round_diffs);
          // Per kernel instance, single-unit configs: ops above 50 us, by the geometric mean of measured
          // and predicted time. By the measurement alone, of many like ops near the cut only those that
          // happened to run slow passed it: small element-wise ops read as under-predicted by 40-55%.
          if (c.units.empty()) {
            std::map<std::string, double> by;
            for (size_t i = 0; i < ex.ops().size(); ++i) by[ex.ops()[i].name] = calibration::quantile(run.op_times[ci][i], 0.1);
            const graph::Graph& cg = ex.compiled_graph();
            for (const auto& o : p.ops) {
              if (!by.count(o.name) || std::sqrt(by[o.name] * std::max(0.0, o.ms)) <= 0.05) continue;
              const double e = (o.ms - by[o.name]) / by[o.name];
              class_errs[o.klass].push_back(e);
              if (other_ms.count(o.name)) other_class_errs[o.klass].push_back((other_ms[o.name] - by[o.name]) / by[o.name]);
              std::string grp, shape;
              model::KernelInstance k;
              if (const auto id = cg.find_op(o.name)) {
                k = model::op_instance(cg, *id, {}, run.threads, false).k;
                model::place_operands(k, 0, model::last_level_cache_bytes(profile.device.caches));  // as the predictor places it
                grp = model::op_group(cg, *id, k);
                if (!grp.empty()) group_errs[grp].push_back(e);
                if (!FLAGS_per_op_out.empty()) shape = op_shape_text(cg, cg.op(*id));
              }
              if (!FLAGS_per_op_out.empty()) {
                per_op << run.name << ',' << c.name << ',' << run.threads << ',' << o.name << ',' << o.type << ','
                       << o.klass << ',' << grp << ',' << by[o.name] << ',' << o.ms << ',' << k.in_bytes << ','
                       << k.out_bytes << ',' << k.weight_bytes << ',' << k.inputs << ',' << k.window_ops << ','
                       << o.executed_macs << ',' << shape;
                if (other) per_op << ',' << (other_ms.count(o.name) ? other_ms[o.name] : 0.0);
                per_op << '\n';
              }
            }
            for (size_t i = 0; i < ex.ops().size(); ++i)
              if (by[ex.ops()[i].name] > 0.05) add_round_pairs(round_p10s(run.op_times[ci][i], repeat), &op_round_diffs);
          }
        }
      }
      done_models += group.size();
    }
  }
  if (!FLAGS_per_op_out.empty()) {
    std::ofstream f(FLAGS_per_op_out);
    f << per_op.str();
    if (!f) throw Error("--per-op-out '" + FLAGS_per_op_out + "'", "cannot write the file");
  }
  const HostSpeed host = ref_runs.empty() ? HostSpeed{} : measure_host_speed(profile, &ref_runs);
  std::fprintf(stderr, "\r%60s\r", "");
  // Share within +-10% and RMSPE of `get` over the rows (those at `threads` only, where it is not 0).
  auto summary = [&](auto get, int threads = 0) {
    int n = 0, within = 0;
    double sq = 0;
    for (const auto& r : rows) {
      if (threads != 0 && r.threads != threads) continue;
      const double e = (get(r) - r.measured) / r.measured;
      ++n, within += std::fabs(e) <= 0.10;
      sq += e * e;
    }
    return n == 0 ? std::make_pair(0.0, 0.0) : std::make_pair(100.0 * within / n, 100.0 * std::sqrt(sq / n));
  };
  const auto ours_of = [](const Row& r) { return r.ours; };
  const auto ours = summary(ours_of);
  const auto other_of = [](const Row& r) { return r.other; };
  const auto other_sum = summary(other_of);
  // A diagnostic, not the figure: the predictions scaled by the host's slowdown since calibration.
  // Kernels follow the reference's slowdown at the exponent the calibration fitted (1 where it recorded none).
  double exponent = model::drift_exponent(profile);
  if (exponent <= 0) exponent = 1;  // 0: the calibration found no use for a correction, not kernels immune to the host
  const double slow = host.slowdown > 0 ? std::pow(host.slowdown, exponent) : 0.0;
  const double par_ms_now = par_runs.empty() ? 0.0 : calibration::quantile(par_runs, 0.1);
  const double par_slowdown = par_runs.empty() ? 0.0 : calibration::host_parallel_slowdown(profile.device, par_threads, par_ms_now);
  const double par_slow = par_slowdown > 0 ? std::pow(par_slowdown, exponent) : 0.0;
  // Rows at the parallel reading's thread count follow that reading; the rest the one-thread one.
  auto host_factor = [&](const Row& r) {
    if (r.threads == par_threads && par_slow > 0) return par_slow;
    return slow > 0 ? slow : 1.0;
  };
  const auto ours_host_of = [&](const Row& r) { return r.ours * host_factor(r); };
  const auto ours_host = summary(ours_host_of);
  const auto flops = summary([](const Row& r) { return r.flops; });
  const auto roof = summary([](const Row& r) { return r.roofline; });
  int rounds_within = 0;
  double rounds_sq = 0;
  for (double d : round_diffs) rounds_within += std::fabs(d) <= 0.10, rounds_sq += d * d;
  const double rounds_within_pct = round_diffs.empty() ? 0 : 100.0 * rounds_within / round_diffs.size();
  const double rounds_rms_pct = round_diffs.empty() ? 0 : 100.0 * std::sqrt(rounds_sq / round_diffs.size());
  std::vector<double> op_round_abs;
  for (double d : op_round_diffs) op_round_abs.push_back(std::fabs(d));
  const double op_rounds_med_pct = 100.0 * calibration::quantile(op_round_abs, 0.5);
  std::vector<double> spreads;
  for (const auto& r : rows) spreads.push_back(r.spread);
  const double spread_median = calibration::quantile(spreads, 0.5);
  // Per kernel class: where the per-kernel error comes from, and whether it is bias (a signed median far
  // from 0, the model's fault) or scatter (the host's).
  struct ClassErr {
    size_t n;
    double abs_med, bias;
  };
  std::map<std::string, ClassErr> by_class, by_group;
  std::vector<double> op_errs;  // |error| of every op, all classes
  auto class_err = [](const std::vector<double>& es, std::vector<double>* abs_out) {
    std::vector<double> a;
    for (double e : es) a.push_back(std::fabs(e));
    if (abs_out) abs_out->insert(abs_out->end(), a.begin(), a.end());
    return ClassErr{es.size(), 100.0 * calibration::quantile(a, 0.5), 100.0 * calibration::quantile(es, 0.5)};
  };
  for (const auto& [k, es] : class_errs) by_class[k] = class_err(es, &op_errs);
  std::map<std::string, ClassErr> other_by_class;
  for (const auto& [k, es] : other_class_errs) other_by_class[k] = class_err(es, nullptr);
  for (const auto& [k, es] : group_errs) by_group[k] = class_err(es, nullptr);
  std::sort(op_errs.begin(), op_errs.end());
  const double op_med = op_errs.empty() ? 0 : 100.0 * op_errs[op_errs.size() / 2];
  // The share of ops within +-10%: the per-operator figure CoDL reports (82-86% on its devices).
  const double op_within10 =
      op_errs.empty() ? 0
                      : 100.0 * static_cast<double>(std::upper_bound(op_errs.begin(), op_errs.end(), 0.10) - op_errs.begin()) /
                            static_cast<double>(op_errs.size());
  std::map<std::string, std::pair<double, double>> rho;  // model -> (ours, flops)
  std::map<std::string, double> worst;                    // model -> its largest |error|, %
  for (const auto& m : models) {
    std::vector<double> meas, o, f;
    for (const auto& r : rows)
      if (r.model == m.name) {
        meas.push_back(r.measured), o.push_back(r.ours), f.push_back(r.flops);
        worst[m.name] = std::max(worst[m.name], 100.0 * std::fabs(r.ours - r.measured) / r.measured);
      }
    rho[m.name] = {spearman(o, meas), spearman(f, meas)};
  }
  std::vector<std::pair<double, std::string>> worst_models;
  for (const auto& [m, e] : worst) worst_models.push_back({e, m});
  std::sort(worst_models.rbegin(), worst_models.rend());
  const size_t models_over_20 = static_cast<size_t>(
      std::count_if(worst_models.begin(), worst_models.end(), [](const auto& w) { return w.first > 20; }));
  // Query speed as a search loop sees it (the figures of predictor_bench, in this run): a ResNet-50-size
  // graph, settings prepared before the clock starts (parsing a spec is the caller's cost, not the
  // model's), every conv's ratio new in a full prediction, one conv's in a re-prediction.
  graph::Graph r50 = graph::load_model("zoo:resnet50_like");
  costmodel::Predictor qp(r50, profile, {1, "cpu0"});
  auto prunable = qp.prunable_ops();
  runtime::SparsitySpec qs;
  for (const auto& [op, macs] : prunable) qs.layers[op] = runtime::parse_layer_spec("block:8x4@0.5");
  std::vector<runtime::LayerSparsity*> slots;
  for (auto& [op, ls] : qs.layers) slots.push_back(&ls);
  qp.estimate(qs);
  double ratio = 0.3, sink = 0;
  auto time_us = [](int n, const auto& body) {
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) body(i);
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  };
  const double full_us = time_us(2000, [&](int) {
    ratio += 1e-7;  // a ratio no earlier query used: nothing comes from the cache
    for (auto* ls : slots) ls->ratio = ratio;
    sink += qp.estimate(qs).ms;
  });
  const double table_us = time_us(2000, [&](int) {
    ratio += 1e-7;
    for (auto* ls : slots) ls->ratio = ratio;
    sink += qp.predict(qs).ms;
  });
  const double one_us = time_us(20000, [&](int i) {
    ratio += 1e-7;
    slots[static_cast<size_t>(i) % slots.size()]->ratio = ratio;
    sink += qp.estimate(qs).ms;
  });
  if (!(sink > 0)) throw Error("bench-predictor", "query timing produced no prediction");

  // --units gpu: the copies to and from the device per run (the graph's input and outputs, host ops'
  // tensors), predicted against their host-clock time.
  std::vector<double> transfer_errs;
  for (const auto& r : rows)
    if (r.transfer_measured > 0) transfer_errs.push_back((r.transfer_predicted - r.transfer_measured) / r.transfer_measured);
  int transfer_within = 0;
  std::vector<double> transfer_abs;
  for (double e : transfer_errs) transfer_within += std::fabs(e) <= 0.15, transfer_abs.push_back(std::fabs(e));
  const double transfer_within_pct = transfer_errs.empty() ? 0 : 100.0 * transfer_within / transfer_errs.size();
  const double transfer_med_pct = transfer_abs.empty() ? 0 : 100.0 * calibration::quantile(transfer_abs, 0.5);
  const double transfer_bias_pct = transfer_errs.empty() ? 0 : 100.0 * calibration::quantile(transfer_errs, 0.5);

  if (FLAGS_json) {
    nlohmann::json j;
    j["profile"] = profile_path;
    j["suite"] = FLAGS_suite;
    j["thread_counts"] = thread_counts;
    j["unit"] = unit_id;
    for (const auto& r : rows)
      j["configs"].push_back({{"model", r.model}, {"config", r.config}, {"threads", r.threads},
                              {"measured_ms_p10", r.measured}, {"ours_ms", r.ours},
                              {"flops_ms", r.flops}, {"roofline_ms", r.roofline},
                              {"measured_p90_over_p10", r.spread}});
    if (other)
      for (size_t i = 0; i < rows.size(); ++i) j["configs"][i]["compared_ms"] = rows[i].other;
    if (gpu_run) {
      for (size_t i = 0; i < rows.size(); ++i) {
        j["configs"][i]["transfer_measured_ms"] = rows[i].transfer_measured;
        j["configs"][i]["transfer_predicted_ms"] = rows[i].transfer_predicted;
      }
      j["transfers"] = {{"configs", transfer_errs.size()}, {"within15_pct", transfer_within_pct},
                        {"median_abs_pct", transfer_med_pct}, {"median_pct", transfer_bias_pct}};
    }
    j["ground_truth"] = {{"statistic", "p10 of all runs"}, {"runs_per_config", kRounds * repeat},
                         {"median_p90_over_p10", spread_median},
                         {"round_to_round", {{"runs_per_round", repeat}, {"pairs", round_diffs.size()},
                                             {"within10_pct", rounds_within_pct}, {"rms_pct", rounds_rms_pct},
                                             {"op_pairs", op_round_diffs.size()},
                                             {"op_median_abs_pct", op_rounds_med_pct}}}};
    j["end_to_end"] = {{"ours", {{"within10_pct", ours.first}, {"rmspe_pct", ours.second}}},
                       {"flops", {{"within10_pct", flops.first}, {"rmspe_pct", flops.second}}},
                       {"roofline", {{"within10_pct", roof.first}, {"rmspe_pct", roof.second}}}};
    if (other) {
      auto& o = j["compared_profile"];
      o["profile"] = FLAGS_compare_profile;
      o["end_to_end"] = {{"within10_pct", other_sum.first}, {"rmspe_pct", other_sum.second}};
      for (int t : thread_counts) {
        const auto a = summary(other_of, t);
        o["end_to_end_by_threads"][std::to_string(t)] = {{"within10_pct", a.first}, {"rmspe_pct", a.second}};
      }
      for (const auto& [k, c] : other_by_class)
        o["per_kernel_by_class"][k] = {{"ops", c.n}, {"median_abs_err_pct", c.abs_med}, {"median_signed_err_pct", c.bias}};
    }
    if (slow > 0) {
      j["host_speed"] = {{"reference_workload", profile.device.speed_reference.workload},
                         {"reference_ms_at_calibration", host.reference_ms_then},
                         {"reference_ms_now", host.reference_ms_now}, {"slowdown", host.slowdown},
                         {"drift_exponent", exponent}, {"kernel_slowdown", slow}};
      if (par_slowdown > 0)
        j["host_speed"]["parallel"] = {{"threads", par_threads},
                                       {"reference_ms_at_calibration", profile.device.speed_reference.parallel_ms},
                                       {"reference_ms_now", par_ms_now},
                                       {"slowdown", par_slowdown}, {"kernel_slowdown", par_slow}};
      j["end_to_end"]["ours_scaled_by_host_slowdown"] = {{"within10_pct", ours_host.first}, {"rmspe_pct", ours_host.second}};
    } else {
      j["host_speed"] = nullptr;  // no speed reference of this build's workload: the host's drift is unknown
    }
    // Per thread count: a shared host's threads drift apart, so the counts are read apart too.
    for (int t : thread_counts) {
      if (std::none_of(rows.begin(), rows.end(), [t](const Row& r) { return r.threads == t; })) continue;
      const auto a = summary(ours_of, t), b = summary(ours_host_of, t);
      auto& o = j["end_to_end_by_threads"][std::to_string(t)];
      o["ours"] = {{"within10_pct", a.first}, {"rmspe_pct", a.second}};
      if (slow > 0) o["ours_scaled_by_host_slowdown"] = {{"within10_pct", b.first}, {"rmspe_pct", b.second}};
    }
    j["per_kernel_median_abs_err_pct"] = op_med;
    j["per_kernel_within10_pct"] = op_within10;
    for (const auto& [k, c] : by_class)
      j["per_kernel_by_class"][k] = {{"ops", c.n}, {"median_abs_err_pct", c.abs_med}, {"median_signed_err_pct", c.bias}};
    for (const auto& [k, c] : by_group)
      j["per_kernel_by_layer_kind"][k] = {{"ops", c.n}, {"median_abs_err_pct", c.abs_med}, {"median_signed_err_pct", c.bias}};
    for (const auto& [m, r] : rho) j["spearman"][m] = {{"ours", r.first}, {"flops", r.second}};
    for (const auto& [m, e] : worst) j["worst_abs_err_pct"][m] = e;
    j["models_worse_than_20_pct"] = models_over_20;
    j["query_us"] = {{"full_prediction", full_us}, {"full_prediction_with_table", table_us},
                     {"one_layer_changed", one_us}, {"graph", "resnet50_like"}, {"convs", prunable.size()}};
    print_json(j);
    return kExitOk;
  }
  std::printf("%-24s %-26s %3s %10s %10s %8s %10s %10s\n", "model", "config", "thr", "measured", "ours", "err", "FLOPs",
              "roofline");
  for (const auto& r : rows)
    std::printf("%-24s %-26s %3d %10.3f %10.3f %+7.1f%% %10.3f %10.3f\n", r.model.substr(0, 24).c_str(),
                r.config.substr(0, 26).c_str(), r.threads, r.measured, r.ours, 100 * (r.ours - r.measured) / r.measured,
                r.flops, r.roofline);
  std::printf("\nmeasured: p10 of %d runs per configuration (%d rounds %s apart); run-to-run p90/p10 "
              "median %.2f%s\n", kRounds * repeat, kRounds, zoo ? "a zoo pass" : "a suite pass", spread_median,
              spread_median > 1.15 ? " — a noisy machine: the figures below carry that noise" : "");
  std::printf("measured against itself: one round's p10 (%d runs) against another's agrees within +-10%% in %.1f%% "
              "of %zu pairs, RMS %.1f%%; per op (> 50 us) median |difference| %.1f%% (rounds of this run; separate "
              "runs of the same configuration have disagreed by more)\n",
              repeat, rounds_within_pct, round_diffs.size(), rounds_rms_pct, op_rounds_med_pct);
  std::printf("end to end over %zu configurations of %zu models, %s suite, %s %s (profile %s):\n", rows.size(),
              models.size(), zoo ? "zoo" : "real-model", units.empty() ? "threads" : "every op on unit",
              units.empty() ? FLAGS_thread_counts.c_str() : FLAGS_units.c_str(), profile_path.c_str());
  std::printf("  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%\n", "ours", ours.first, ours.second);
  if (other) {
    std::printf("  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%   (--compare-profile %s, on the same runs)\n",
                "compared", other_sum.first, other_sum.second, FLAGS_compare_profile.c_str());
    for (int t : thread_counts) {
      const auto a = summary(ours_of, t), b = summary(other_of, t);
      std::printf("    at %d thread(s): ours %5.1f%% / %5.1f%%, compared %5.1f%% / %5.1f%% (within +-10%% / RMSPE)\n", t,
                  a.first, a.second, b.first, b.second);
    }
  }
  if (gpu_run)
    std::printf("  %-10s within +-15%%: %5.1f%% of %zu configurations, median |error| %.1f%%, median error %+.1f%% "
                "(the host<->device copies of a run: predicted vs their host-clock time)\n",
                "copies", transfer_within_pct, transfer_errs.size(), transfer_med_pct, transfer_bias_pct);
  std::printf("  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%\n", "FLOPs", flops.first, flops.second);
  std::printf("  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%\n", "roofline", roof.first, roof.second);
  if (slow > 0 && par_slow > 0)
    std::printf("%s\n  on %d threads the profile's reference takes %.3f ms now, %.3f ms at calibration\n"
                "  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%   (a diagnostic: predictions x %.3f, at %d threads x %.3f: "
                "the slowdowns at the profile's drift exponent)\n",
                host.line.c_str(), par_threads, par_ms_now,
                profile.device.speed_reference.parallel_ms, "ours/host", ours_host.first, ours_host.second, slow,
                par_threads, par_slow);
  else if (slow > 0)
    std::printf("%s\n  %-10s within +-10%%: %5.1f%%   RMSPE %5.1f%%   (a diagnostic: predictions x %.3f, the slowdown at the profile's drift exponent)\n",
                host.line.c_str(), "ours/host", ours_host.first, ours_host.second, slow);
  else
    std::printf("host speed: unknown, %s (recalibrate to record one), so a gap shared by every class may be the "
                "host rather than the model\n",
                profile.device.speed_reference.workload.empty()
                    ? "the profile holds no speed reference"
                    : ("the profile's speed reference times another workload or other kernels (" +
                       profile.device.speed_reference.workload + ", kernels " +
                       (profile.device.kernels.empty() ? std::string("unrecorded") : profile.device.kernels) + ")")
                          .c_str());
  std::printf("per kernel instance (ops > 50 us, geometric mean of measured and predicted): median |error| %.1f%% over %zu ops, "
              "%.1f%% of them within +-10%%\n", op_med, op_errs.size(), op_within10);
  for (const auto& [k, c] : by_class) {
    std::printf("  %-22s %4zu ops  median |error| %5.1f%%  median error %+6.1f%%", k.c_str(), c.n, c.abs_med, c.bias);
    if (const auto o = other_by_class.find(k); o != other_by_class.end())
      std::printf("   compared: %5.1f%%  %+6.1f%%", o->second.abs_med, o->second.bias);
    std::printf("\n");
  }
  if (!by_group.empty()) std::printf("per layer kind that a class's median can hide (the same ops):\n");
  for (const auto& [k, c] : by_group)
    std::printf("  %-22s %4zu ops  median |error| %5.1f%%  median error %+6.1f%%\n", k.c_str(), c.n, c.abs_med, c.bias);
  for (const auto& [m, r] : rho) std::printf("Spearman %-24s ours %.3f   FLOPs %.3f\n", m.c_str(), r.first, r.second);
  std::printf("models with a configuration worse than +-20%%: %zu of %zu", models_over_20, worst.size());
  for (size_t i = 0; i < std::min<size_t>(5, worst_models.size()); ++i)
    std::printf("%s %s %.1f%%", i ? "," : "; worst:", worst_models[i].second.c_str(), worst_models[i].first);
  std::printf("\n");
  std::printf("query (resnet50_like, %zu convs): full prediction, every conv changed, %.1f us (%.1f us with the "
              "per-op table); one conv changed %.2f us\n", prunable.size(), full_us, table_us, one_us);
  return kExitOk;
}

const Register reg({"bench-predictor", "cost-model accuracy vs measured runs, next to FLOPs and roofline baselines",
                    "hilsim bench-predictor [--profile P] [--suite zoo|DIR] [--thread-counts 1,2] [--quick] [--json]\n"
                    "                       [--per-op-out FILE] [--compare-profile P2] [--units U]\n\n"
                    "Runs models on this machine (executor) and compares with the predictions of the profile\n"
                    "(default: the bundled profile of this machine kind) and of two baselines fitted on the same\n"
                    "samples. --suite zoo (default): the built-in models dense and in sparse, random per-layer and\n"
                    "two-unit configurations. --suite DIR: a real-model suite, the ONNX files that\n"
                    "`tests/models/real_models.py DIR --suite bench` exports from PyTorch (torchvision families and\n"
                    "YOLO-style detectors at two input sizes each), dense, block 8x4 at 0.5/0.7, pattern 2EP and three\n"
                    "random per-layer mixes. Each model is measured at every count of --thread-counts (default 1).\n"
                    "Reports within-10% shares, RMSPE, the models worse than 20%, per-kernel error by class and by\n"
                    "layer kind (grouped conv, far gemm, global pool, far elementwise, 1x1 on 1x1 map, many-input\n"
                    "concat, standalone batchnorm), the\n"
                    "measurement's own round-to-round spread, Spearman rank correlation and query speed.\n"
                    "--per-op-out FILE writes each compared op (> 50 us as the geometric mean of measured and predicted, single-unit configurations) as a CSV row:\n"
                    "measured p10 and predicted ms beside the op's class, layer kind and bytes.\n"
                    "--compare-profile P2 also scores P2's predictions of the same configurations on the same runs\n"
                    "(end to end, per thread count and per kernel class; --per-op-out gains its compared_ms column):\n"
                    "two calibrations compared without the run-to-run noise of two benchmarks. The configurations'\n"
                    "random mixes are drawn with the first profile.\n"
                    "--units U (one unit, e.g. gpu:1: the OpenCL device driven from core 1) runs every op of every\n"
                    "model on U, dense and block 8x4 at 0.7, and predicts them on the profile's unit of that id (a\n"
                    "profile without it is an error naming the file); thread counts are then the unit's own.",
                    {"profile", "quick", "json", "suite", "thread_counts", "per_op_out", "compare_profile", "units"},
                    run_bench});

}  // namespace
}  // namespace hilsim::cli
