// `hilsim report MODEL --profile P --out report.html`: the figures people would rather look at than
// read, in one self-contained HTML page (inline SVG from svg_chart, no scripts or network): per-layer
// latency, predicted vs measured, the planner's latency / saliency front, the simulated timeline with
// the memory-access and energy split, and the profile's summary.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "command.h"
#include "common_flags.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/partition/planner.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"
#include "hilsim/util/strings.h"
#include "hilsim/version.h"
#include "svg_chart.h"

DEFINE_string(predictor_json, "",
              "report: a `hilsim bench-predictor --json` result, whose configurations it plots predicted vs measured");

namespace hilsim::cli {
namespace {

constexpr int kMaxLayerRows = 40;  // the slowest layers get a bar each; the rest one "other" row

const char* format_color(const std::string& f) {
  if (f == "block" || f == "block_col") return "#e5862b";
  if (f == "pattern") return "#3a9a4a";
  if (f == "csr") return "#8a5ab8";
  return "#6b8fc7";
}

std::string fixed(double v, int digits = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// Mean kept saliency over the prunable convs under `cfg` (1 for a dense one): the planner's measure, so
// a given config can be placed on its front.
double mean_saliency(const graph::Graph& canonical, const std::vector<std::pair<std::string, int64_t>>& prunable,
                     const runtime::SparsitySpec& cfg) {
  if (prunable.empty()) return 1.0;
  double s = 0;
  for (const auto& [op, macs] : prunable) {
    (void)macs;
    const auto ls = cfg.for_op(op);
    // A uniform SPEC leaves the convs its format cannot take dense, as run and predict do.
    const graph::Op& gop = canonical.op(*canonical.find_op(op));
    const bool applies = ls && ls->format != runtime::Format::kDense && gop.type == "Conv" &&
                         runtime::format_problem(runtime::conv_shape_of(canonical, gop), *ls).empty();
    s += applies ? partition::layer_saliency(canonical, op, *ls) : 1.0;
  }
  return s / static_cast<double>(prunable.size());
}

int run_report(const std::vector<std::string>& args) {
  const std::string& model_spec = model_arg(args, "report");
  required_profile("report");
  if (FLAGS_out.empty()) throw Error("report", "--out report.html is required");
  if (!FLAGS_sparsity.empty() && !FLAGS_plan.empty()) throw Error("--sparsity/--plan", "give one of them, not both");
  check_writable(FLAGS_out, "--out");
  const graph::Graph g = load_model_from_flags(model_spec);
  std::optional<partition::Plan> given_plan;
  if (!FLAGS_plan.empty()) given_plan = load_plan_for(FLAGS_plan, g);
  const model::Profile profile = model::load_profile(FLAGS_profile);
  costmodel::PredictorOptions po;
  po.threads = threads_from_flags(given_plan ? given_plan->threads : 0, &profile, FLAGS_unit);
  po.default_unit = FLAGS_unit;
  costmodel::Predictor pred(g, profile, po);

  // The planner's front, at the given plan's target or --target-speedup.
  std::fprintf(stderr, "report: planning for the latency / saliency front...\n");
  partition::PlanOptions plo;
  plo.formats = split_list(FLAGS_formats);
  plo.threads = pred.default_threads();
  plo.unit = FLAGS_unit;
  plo.front_points = 16;
  const double speedup = FLAGS_target_speedup > 0 ? FLAGS_target_speedup : 1.5;
  if (given_plan) plo.target_ms = given_plan->target_ms;
  else plo.target_speedup = speedup;
  std::optional<partition::Plan> planned;
  std::string plan_note;
  try {
    planned = partition::make_plan(g, model_spec, profile, FLAGS_profile, plo);
  } catch (const Error& e) {
    plan_note = e.what();  // an unreachable target leaves the front empty, and says why
  }

  // What the breakdown shows: the given config, else the plan made here.
  runtime::SparsitySpec cfg;
  std::string cfg_name = "dense";
  if (!FLAGS_sparsity.empty()) cfg = runtime::parse_sparsity_spec(FLAGS_sparsity), cfg_name = "--sparsity " + FLAGS_sparsity;
  else if (given_plan) cfg = given_plan->spec(), cfg_name = "--plan " + FLAGS_plan;
  else if (planned) cfg = planned->spec(), cfg_name = "the planner's plan at " + fixed(speedup, 2) + "x";
  const costmodel::Prediction dense = pred.predict();
  const costmodel::Prediction p = pred.predict(cfg);

  std::map<std::string, double> measured;
  double measured_p10 = -1;
  if (FLAGS_compare) {
    std::fprintf(stderr, "report: measuring on this machine (%d runs)...\n", FLAGS_repeat);
    note_about_profile(profile, FLAGS_profile, model::ProfileNoteScope::kMachine);
    threads_from_flags(given_plan ? given_plan->threads : 0);  // the count must suit this machine too
    runtime::RunConfigRequest req;
    req.threads = pred.default_threads();
    runtime::ExecOptions eo = runtime::make_exec_options(req);
    eo.sparsity = cfg;
    for (auto& [op, ls] : eo.sparsity.layers) ls.unit.clear();  // one unit here, as predict --compare
    runtime::Executor ex(g, eo);
    const runtime::Measurement m = runtime::measure(ex, runtime::random_inputs(ex.compiled_graph()), 3, FLAGS_repeat);
    for (size_t i = 0; i < ex.ops().size(); ++i) measured[ex.ops()[i].name] = calibration::quantile(m.op_run_ms[i], 0.1);
    measured_p10 = m.ms_p10;
  }

  std::vector<std::string> charts;
  std::string body;
  auto section = [&](const std::string& id, const std::string& h, const std::string& note, const std::string& svg) {
    charts.push_back(id);
    body += "<section><h2>" + svg::escape(h) + "</h2>" + (note.empty() ? "" : "<p>" + svg::escape(note) + "</p>") + svg +
            "</section>\n";
  };

  // Per-layer latency: the slowest ops (dense) in model order, the rest summed.
  {
    std::vector<size_t> idx(p.ops.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::map<std::string, double> dense_ms;
    for (const auto& o : dense.ops) dense_ms[o.name] = o.ms;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return dense_ms[p.ops[a].name] > dense_ms[p.ops[b].name]; });
    std::set<size_t> shown(idx.begin(), idx.begin() + std::min<size_t>(idx.size(), kMaxLayerRows));
    std::vector<std::string> labels;
    svg::Series sd{"dense, predicted", "#b8c7e0", {}}, sp{"predicted (" + cfg_name + ")", "#3b6fb6", {}},
        sm{"measured here (p10)", "#d62728", {}};
    double od = 0, op = 0, om = 0;
    for (size_t i = 0; i < p.ops.size(); ++i) {
      const auto& o = p.ops[i];
      const double m = measured.count(o.name) ? measured[o.name] : -1;
      if (!shown.count(i)) {
        od += dense_ms[o.name], op += o.ms, om += std::max(0.0, m);
        continue;
      }
      labels.push_back(o.name + " [" + o.format + "]");
      sd.values.push_back(dense_ms[o.name]);
      sp.values.push_back(o.ms);
      sm.values.push_back(m);
    }
    if (shown.size() < p.ops.size()) {
      labels.push_back("(" + std::to_string(p.ops.size() - shown.size()) + " other ops)");
      sd.values.push_back(od), sp.values.push_back(op), sm.values.push_back(FLAGS_compare ? om : -1);
    }
    std::vector<svg::Series> series{sd, sp};
    if (FLAGS_compare) series.push_back(sm);
    section("chart-layers", "Per-layer latency",
            "Predicted per kernel instance on " + profile.device.name + " (" + std::to_string(pred.default_threads()) +
                " thread(s)): dense and " + cfg_name + (FLAGS_compare ? "; measured on this machine" : "") + ".",
            svg::hbar_chart("chart-layers", "latency per op", labels, series, "ms"));
  }

  // Predicted vs measured, per op.
  {
    std::vector<svg::Point> pts;
    for (const auto& o : p.ops)
      if (measured.count(o.name) && measured[o.name] > 0 && o.ms > 0)
        pts.push_back({o.ms, measured[o.name], o.name + ": predicted " + fixed(o.ms, 4) + " ms, measured " +
                                                   fixed(measured[o.name], 4) + " ms"});
    svg::ScatterOptions so;
    so.x_label = "predicted ms";
    so.y_label = "measured ms (p10)";
    so.log_axes = so.diagonal = true;
    section("chart-scatter", "Predicted vs measured",
            FLAGS_compare ? "Each point an op of " + cfg_name + "; the dashed line is a perfect prediction. Total: predicted " +
                                fixed(p.ms) + " ms, measured " + fixed(measured_p10) + " ms (p10)."
                          : "No measurements: run the report with --compare to measure on this machine.",
            svg::scatter("chart-scatter", "predicted vs measured", pts, so));
  }

  // Predicted vs measured over whole configurations, from a bench-predictor run.
  {
    std::vector<svg::Point> pts;
    std::string note = "Give --predictor-json FILE (the output of `hilsim bench-predictor --json`) to plot its "
                       "configurations here.";
    if (!FLAGS_predictor_json.empty()) {
      std::ifstream in(FLAGS_predictor_json);
      if (!in) throw Error("--predictor-json " + FLAGS_predictor_json, "cannot be read");
      nlohmann::json j;
      try {
        in >> j;
      } catch (const nlohmann::json::exception& e) {
        throw Error("--predictor-json " + FLAGS_predictor_json, std::string("is not JSON: ") + e.what());
      }
      if (!j.is_object() || !j.contains("configs") || !j["configs"].is_array())
        throw Error(FLAGS_predictor_json + ": field 'configs'", "missing: not a `hilsim bench-predictor --json` result");
      for (size_t i = 0; i < j["configs"].size(); ++i) {
        const auto& c = j["configs"][i];
        const std::string where = FLAGS_predictor_json + ": field 'configs[" + std::to_string(i) + "]";
        for (const char* k : {"ours_ms", "measured_ms_p10"})
          if (!c.is_object() || !c.contains(k) || !c[k].is_number()) throw Error(where + "." + k + "'", "missing or not a number");
        const double ours = c["ours_ms"].get<double>(), meas = c["measured_ms_p10"].get<double>();
        const std::string name = c.value("model", std::string("?")) + " " + c.value("config", std::string()) + " t" +
                                 std::to_string(c.value("threads", 1));
        pts.push_back({ours, meas, name + ": predicted " + fixed(ours) + " ms, measured " + fixed(meas) + " ms"});
      }
      note = std::to_string(pts.size()) + " configurations of " + FLAGS_predictor_json + " (profile " +
             j.value("profile", std::string("?")) + "); the dashed line is a perfect prediction.";
    }
    svg::ScatterOptions so;
    so.x_label = "predicted ms";
    so.y_label = "measured ms (p10)";
    so.log_axes = so.diagonal = true;
    section("chart-configs", "Predicted vs measured, per configuration", note,
            svg::scatter("chart-configs", "predicted vs measured per configuration", pts, so));
  }

  // The planner's front.
  {
    std::vector<svg::Point> pts;
    svg::ScatterOptions so;
    so.x_label = "predicted ms (sum of layers)";
    so.y_label = "mean kept saliency";
    so.connect = true;
    if (planned) {
      for (const auto& f : planned->front)
        pts.push_back({f.sum_ms, f.saliency, fixed(f.sum_ms) + " ms, saliency " + fixed(f.saliency)});
      so.marked.push_back({planned->chosen.sum_ms, planned->chosen.saliency,
                           "plan at " + fixed(planned->target_ms) + " ms target"});
      if (!cfg.layers.empty() || cfg.all) {
        const double s = mean_saliency(pred.canonical_graph(), pred.prunable_ops(), cfg);
        if (FLAGS_sparsity.size() || given_plan) so.marked.push_back({p.sum_ms, s, cfg_name});
      }
    }
    section("chart-pareto", "Latency vs kept saliency",
            planned ? "The planner's multiple-choice knapsack solved at " + std::to_string(planned->front.size()) +
                          " budgets (formats " + FLAGS_formats + "); red: the plan chosen for the target" +
                          (FLAGS_sparsity.size() || given_plan ? " and " + cfg_name : std::string()) + "."
                    : "No front: " + plan_note,
            svg::scatter("chart-pareto", "latency vs kept saliency", pts, so));
  }

  // The simulated schedule per unit, and where the bytes and the energy go.
  {
    std::vector<std::string> lanes;
    std::vector<svg::Span> spans;
    for (const auto& o : p.ops) {
      if (std::find(lanes.begin(), lanes.end(), o.unit) == lanes.end()) lanes.push_back(o.unit);
      spans.push_back({o.unit, o.name + " [" + o.kernel + " (" + o.klass + "), " + o.format + "]", format_color(o.format), o.start_ms, o.end_ms});
    }
    section("chart-timeline", "Simulated timeline",
            "List scheduling of the kernels on the profile's units; colour by format (blue dense, orange block, green "
            "pattern, purple CSR). Makespan " + fixed(p.ms) + " ms" +
                (p.transfers ? ", " + std::to_string(p.transfers) + " transfers (" + fixed(p.transfer_ms) + " ms)" : "") + ".",
            svg::timeline("chart-timeline", "timeline", lanes, spans));
    double mib = 1024.0 * 1024.0;
    std::vector<svg::Stack> stacks{
        {"memory access", "MiB",
         {{"DRAM", "#c0504d", p.dram_bytes / mib}, {"cache", "#9bbb59", p.cache_bytes / mib}}},
        {"energy (" + p.energy_source + ")", "mJ",
         {{"dynamic", "#4f81bd", p.dynamic_mj}, {"static", "#f79646", p.static_mj}}}};
    svg::Stack busy{"unit busy time", "ms", {}};
    const char* unit_colors[] = {"#6b8fc7", "#e5862b", "#3a9a4a", "#8a5ab8"};
    size_t k = 0;
    for (const auto& [u, ms] : p.unit_busy_ms) busy.parts.push_back({u, unit_colors[k++ % 4], ms});
    stacks.push_back(busy);
    section("chart-split", "Memory access and energy", "Bytes in storage format by the level that serves them; energy "
            "as the profile's coefficients give it (source: " + p.energy_source + ").",
            svg::stacked_bars("chart-split", "memory and energy split", stacks));
  }

  // The profile.
  {
    const auto& d = profile.device;
    std::string t = "<table>";
    auto row = [&](const std::string& k, const std::string& v) {
      t += "<tr><th>" + svg::escape(k) + "</th><td>" + svg::escape(v) + "</td></tr>";
    };
    row("profile", FLAGS_profile);
    row("device", d.name);
    row("CPU", d.cpu_model + ", " + std::to_string(d.cores) + " cores");
    row("provenance", profile.provenance + (profile.provenance_note.empty() ? "" : " (" + profile.provenance_note + ")"));
    row("calibrated", d.calibrated_at.empty() ? "(not measured)" : d.calibrated_at + " by hilsim " + d.hilsim_version);
    row("energy source", profile.energy.source);
    std::string units;
    for (const auto& u : profile.units) units += (units.empty() ? "" : ", ") + u.id + " (" + u.kind + ")";
    row("units", units);
    t += "</table>";
    std::vector<std::string> labels;
    svg::Series fit{"fit RMSPE", "#3b6fb6", {}};
    for (const auto& [k, km] : profile.kernels) {
      labels.push_back(k + " (" + std::to_string(km.samples) + " samples)");
      fit.values.push_back(km.fit_rmspe);
    }
    charts.push_back("chart-fit");
    body += "<section><h2>Device profile</h2>" + t +
            (labels.empty() ? "<p>This profile has no fitted kernel classes (spec figures: roofline only).</p>" : "") +
            svg::hbar_chart("chart-fit", "fit error per kernel class", labels, {fit}, "% RMSPE on the fitting samples") +
            "</section>\n";
  }

  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hilsim report: " + svg::escape(model_spec) +
      "</title>\n<style>body{font-family:sans-serif;margin:20px;max-width:900px}h1{font-size:20px}"
      "h2{font-size:16px;margin-top:28px}figure{margin:0}figcaption{display:none}table{border-collapse:collapse}"
      "th,td{text-align:left;padding:2px 10px;font-size:13px}th{color:#555}p{font-size:13px}</style></head><body>\n"
      "<h1>hilsim report: " + svg::escape(model_spec) + "</h1>\n<p>Profile " + svg::escape(FLAGS_profile) + "; " +
      svg::escape(cfg_name) + ": predicted " + fixed(p.ms) + " ms (dense " + fixed(dense.ms) + " ms)" +
      (FLAGS_compare ? ", measured here " + fixed(measured_p10) + " ms (p10 of " + std::to_string(FLAGS_repeat) + " runs)" : "") +
      ". hilsim " + HILSIM_VERSION + ".</p>\n" + body + "</body></html>\n";
  std::ofstream f(FLAGS_out, std::ios::binary);
  if (!f) throw Error("--out " + FLAGS_out, "cannot be written");
  f << html;
  if (!f) throw Error("--out " + FLAGS_out, "write failed");
  if (FLAGS_json) {
    print_json({{"out", FLAGS_out}, {"bytes", html.size()}, {"charts", charts}, {"predicted_ms", p.ms},
                {"dense_predicted_ms", dense.ms}, {"measured_ms_p10", FLAGS_compare ? measured_p10 : -1.0},
                {"front_points", planned ? planned->front.size() : 0}});
    return kExitOk;
  }
  std::printf("report written to %s (%s, %zu charts)\n", FLAGS_out.c_str(), human_bytes(static_cast<double>(html.size())).c_str(),
              charts.size());
  return kExitOk;
}

const Register reg({"report", "one self-contained HTML page of charts: layers, predicted vs measured, front, timeline",
                    "hilsim report MODEL --profile P --out report.html [--sparsity SPEC | --plan P] [--compare]\n"
                    "                    [--target-speedup X] [--formats block,pattern] [--repeat N] [--threads N]\n"
                    "                    [--predictor-json FILE]\n\n"
                    "Writes one HTML file with inline SVG charts (no scripts, opens with no network): per-layer latency\n"
                    "(dense and the config, predicted; measured on this machine with --compare), predicted vs measured\n"
                    "per op (with --compare) and per configuration of a `bench-predictor --json` result\n"
                    "(--predictor-json), the planner's latency vs kept-saliency front with the chosen plan marked\n"
                    "(and the given --plan or --sparsity), the simulated timeline per unit with the memory-access and\n"
                    "energy split, and the profile's summary with the fit error per kernel class. The front is planned\n"
                    "at the --plan's target, else at --target-speedup (1.5 when not given); without --plan or\n"
                    "--sparsity the charts show that plan.",
                    {"profile", "out", "sparsity", "plan", "compare", "target_speedup", "formats", "repeat", "threads",
                     "unit", "json", "input_shape", "allow_unknown", "predictor_json"},
                    run_report});

}  // namespace
}  // namespace hilsim::cli
