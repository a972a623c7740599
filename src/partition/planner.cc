#include "hilsim/partition/planner.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/passes/coupled_groups.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/partition/knapsack.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/hash.h"
#include "hilsim/util/json_parse.h"

namespace hilsim::partition {

using nlohmann::json;

namespace {

// Sorted unit energies of a conv under a format and block: kept saliency at any ratio from a prefix sum.
struct SaliencyCurve {
  std::vector<double> prefix;  // prefix[i] = energy of the i weakest units
  double total = 0;
  double at(double ratio) const {
    const int64_t units = static_cast<int64_t>(prefix.size()) - 1;
    const int64_t pruned = std::llround(ratio * static_cast<double>(units));
    return total > 0 ? (total - prefix[static_cast<size_t>(std::clamp<int64_t>(pruned, 0, units))]) / total : 1.0;
  }
};

SaliencyCurve curve(const graph::Graph& g, const std::string& op, const runtime::LayerSparsity& ls) {
  const graph::Op& o = g.op(*g.find_op(op));
  const kernels::ConvShape s = runtime::conv_shape_of(g, o);
  const float* w = g.constant(o.inputs[1])->f32.data();
  std::vector<double> score;
  const int64_t P = s.kh * s.kw, C = s.c / s.groups, K = C * P;
  if (ls.format == runtime::Format::kBlock || ls.format == runtime::Format::kBlockCol) {
    const bool col = ls.format == runtime::Format::kBlockCol;
    const int64_t bcn = col ? C : (C + ls.bc - 1) / ls.bc, br = (s.f + ls.bf - 1) / ls.bf;
    score.assign(static_cast<size_t>(br * bcn * P), 0.0);
    for (int64_t f = 0; f < s.f; ++f)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < P; ++p) {
          const double v = w[f * K + c * P + p];
          score[static_cast<size_t>(((f / ls.bf) * bcn + (col ? c : c / ls.bc)) * P + p)] += v * v;
        }
  } else {  // csr: single weights
    score.resize(static_cast<size_t>(s.weight_count()));
    for (size_t i = 0; i < score.size(); ++i) score[i] = static_cast<double>(w[i]) * w[i];
  }
  std::sort(score.begin(), score.end());
  SaliencyCurve c;
  c.prefix.assign(score.size() + 1, 0.0);
  for (size_t i = 0; i < score.size(); ++i) c.prefix[i + 1] = c.prefix[i] + score[i];
  c.total = c.prefix.back();
  return c;
}

std::string setting_str(const runtime::LayerSparsity& s) { return runtime::layer_spec_str(s); }

}  // namespace

double layer_saliency(const graph::Graph& g, const std::string& op, const runtime::LayerSparsity& ls) {
  if (ls.format == runtime::Format::kDense) return 1.0;
  if (ls.format == runtime::Format::kPattern) {
    const graph::Op& o = g.op(*g.find_op(op));
    const kernels::ConvShape s = runtime::conv_shape_of(g, o);
    return kernels::pattern_mask(s, g.constant(o.inputs[1])->f32.data(), ls.entries).kept_saliency;
  }
  return curve(g, op, ls).at(ls.ratio);
}

std::string model_fingerprint(const graph::Graph& g) {
  uint64_t h = kFnvOffset;
  auto mix = [&](const std::string& s) { h = fnv1a(s, h); };
  // The input shape is part of it: every op's time depends on it, so a plan made at 224 is no plan
  // for the same weights at 160.
  for (const auto& in : g.inputs()) {
    mix(in);
    if (const graph::TensorInfo* t = g.tensor_info(in)) mix(graph::shape_str(t->shape));
  }
  for (graph::OpId id : g.topological_order()) {
    const graph::Op& op = g.op(id);
    mix(op.name);
    mix(op.type);
    for (const auto& in : op.inputs)
      if (const graph::Tensor* t = g.constant(in)) mix(graph::shape_str(t->shape));
  }
  std::ostringstream os;
  os << std::hex << h;
  return os.str();
}

void check_plan_applies(const Plan& plan, const graph::Graph& model, const std::string& where) {
  graph::Graph g = model;
  graph::passes::canonicalize(g);
  const std::string fp = model_fingerprint(g);
  if (fp == plan.fingerprint) return;
  std::string shapes;
  for (const auto& in : g.inputs())
    if (const graph::TensorInfo* t = g.tensor_info(in)) shapes += (shapes.empty() ? "" : ", ") + in + " " + graph::shape_str(t->shape);
  throw Error(where, "was made for another model or input shape (plan for '" + plan.model + "', fingerprint " +
                         plan.fingerprint + "; this model " + fp + ", input " + shapes +
                         "): op names, weight shapes or the input shape differ");
}

runtime::SparsitySpec Plan::spec() const {
  runtime::SparsitySpec s;
  for (const auto& l : layers) s.layers[l.op] = l.setting;
  return s;
}

Plan make_plan(const graph::Graph& model, const std::string& model_name, const model::Profile& profile,
               const std::string& profile_name, const PlanOptions& o) {
  costmodel::PredictorOptions po;
  po.threads = o.threads;
  po.default_unit = o.unit;
  costmodel::Predictor pred(model, profile, po);
  const graph::Graph& g = pred.canonical_graph();
  Plan plan;
  plan.model = model_name;
  plan.profile = profile_name;
  plan.fingerprint = model_fingerprint(g);
  plan.unit = o.unit.empty() ? profile.units.at(0).id : o.unit;
  const model::UnitSpec* u = profile.unit(plan.unit);
  plan.threads = o.threads > 0 ? o.threads : (u ? u->threads : 1);
  const costmodel::Prediction dense = pred.predict();
  plan.dense_ms = dense.ms;
  if (o.target_ms > 0) plan.target_ms = o.target_ms;
  else if (o.target_speedup > 0) plan.target_ms = dense.ms / o.target_speedup;
  else throw Error("plan", "give --target-ms or --target-speedup");

  // Which convs may be pruned: not the first one, not those producing a graph output (detect heads).
  auto prunable = pred.prunable_ops();
  std::set<std::string> keep_dense;
  if (o.keep_first_last_dense && !prunable.empty()) {
    keep_dense.insert(prunable.front().first);
    for (const auto& out : g.outputs())
      if (auto p = g.producer(out)) keep_dense.insert(g.op(*p).name);
  }
  // Coupled groups take one decision.
  std::map<std::string, int> group_of;
  if (o.share_coupled)
    for (const auto& cg : graph::passes::find_coupled_groups(g))
      for (const auto& c : cg.convs) group_of[c] = cg.id;
  std::vector<std::vector<std::string>> items;
  std::map<int, size_t> item_of_group;
  double fixed_ms = dense.sum_ms;
  std::map<std::string, double> dense_ms;
  for (const auto& op : dense.ops) dense_ms[op.name] = op.ms;
  for (const auto& [name, macs] : prunable) {
    (void)macs;
    if (keep_dense.count(name)) continue;
    fixed_ms -= dense_ms[name];
    auto git = group_of.find(name);
    if (git != group_of.end()) {
      auto it = item_of_group.find(git->second);
      if (it != item_of_group.end()) {
        items[it->second].push_back(name);
        continue;
      }
      item_of_group[git->second] = items.size();
    }
    items.push_back({name});
  }
  // Candidate settings.
  std::vector<runtime::LayerSparsity> cands{runtime::LayerSparsity{}};
  for (const auto& f : o.formats) {
    if (f == "block" || f == "block_col") {
      for (const auto& [bf, bc] : o.blocks)
        for (double r : o.ratios) {
          if (r > o.max_ratio + 1e-9) continue;
          runtime::LayerSparsity s;
          s.format = f == "block" ? runtime::Format::kBlock : runtime::Format::kBlockCol;
          s.bf = bf;
          s.bc = f == "block" ? bc : 1;
          s.ratio = r;
          cands.push_back(s);
        }
    } else if (f == "pattern") {
      for (int e : {3, 2}) {
        runtime::LayerSparsity s;
        s.format = runtime::Format::kPattern;
        s.entries = e;
        cands.push_back(s);
      }
    } else if (f == "csr") {
      for (double r : o.ratios) {
        if (r > o.max_ratio + 1e-9) continue;
        runtime::LayerSparsity s;
        s.format = runtime::Format::kCsr;
        s.ratio = r;
        cands.push_back(s);
      }
    } else {
      throw Error("--formats", "unknown format '" + f + "' (block, block_col, pattern, csr)");
    }
  }
  // Options per item: predicted latency and kept saliency (summed over the group's members).
  std::map<std::pair<std::string, std::string>, SaliencyCurve> curves;
  auto saliency = [&](const std::string& op, const runtime::LayerSparsity& s) -> double {
    if (s.format == runtime::Format::kDense) return 1.0;
    if (s.format == runtime::Format::kPattern) return layer_saliency(g, op, s);
    runtime::LayerSparsity key = s;
    key.ratio = 0;
    auto k = std::make_pair(op, setting_str(key));
    auto it = curves.find(k);
    if (it == curves.end()) it = curves.emplace(k, curve(g, op, s)).first;
    return it->second.at(s.ratio);
  };
  std::vector<std::vector<Option>> options(items.size());
  std::vector<std::vector<size_t>> option_cand(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t c = 0; c < cands.size(); ++c) {
      double ms = 0, sal = 0;
      bool ok = true;
      for (const auto& op : items[i]) {
        const graph::Op& gop = g.op(*g.find_op(op));
        if (!runtime::format_problem(runtime::conv_shape_of(g, gop), cands[c]).empty()) {
          ok = false;
          break;
        }
        ms += pred.predict_op(op, cands[c]).ms;
        sal += saliency(op, cands[c]);
      }
      if (!ok) continue;
      options[i].push_back({ms, sal});
      option_cand[i].push_back(c);
    }
  }
  const double budget = plan.target_ms - fixed_ms;
  KnapsackResult kr = solve_mckp(options, std::max(budget, 1e-6));
  if (budget <= 0 || !kr.feasible) {
    double best = fixed_ms;
    for (const auto& opts : options) {
      double m = 1e300;
      for (const auto& op : opts) m = std::min(m, op.latency_ms);
      best += opts.empty() ? 0 : m;
    }
    std::ostringstream os;
    os.precision(4);
    os << "target " << plan.target_ms << " ms is not reachable: the fastest plan with these formats and ratios is "
       << best << " ms (dense " << plan.dense_ms << " ms; ops that stay dense take " << fixed_ms << " ms)";
    throw Error("plan", os.str());
  }
  plan.solver_gap = kr.gap;
  plan.solver_upper_bound = kr.upper_bound;
  size_t n_layers_total = keep_dense.size();
  for (const auto& it : items) n_layers_total += it.size();
  const auto mean_saliency = [&](double item_saliency) {
    return n_layers_total ? (item_saliency + static_cast<double>(keep_dense.size())) / n_layers_total : 1.0;
  };
  plan.chosen = {fixed_ms + kr.latency_ms, mean_saliency(kr.saliency)};
  if (o.front_points > 1) {
    // The same options solved at budgets from the fastest reachable to all-dense: the trade-off the
    // chosen plan was picked from.
    double lo = 0, hi = 0;
    for (const auto& opts : options) {
      double mn = 1e300, mx = 0;
      for (const auto& op : opts) mn = std::min(mn, op.latency_ms), mx = std::max(mx, op.latency_ms);
      if (!opts.empty()) lo += mn, hi += mx;
    }
    std::vector<FrontPoint> pts;
    for (int k = 0; k < o.front_points; ++k) {
      const double b = lo + (hi - lo) * k / (o.front_points - 1);
      const KnapsackResult r = solve_mckp(options, std::max(b, 1e-6));
      if (r.feasible) pts.push_back({fixed_ms + r.latency_ms, mean_saliency(r.saliency)});
    }
    pts.push_back(plan.chosen);
    std::sort(pts.begin(), pts.end(), [](const FrontPoint& a, const FrontPoint& b) {
      return a.sum_ms < b.sum_ms || (a.sum_ms == b.sum_ms && a.saliency > b.saliency);
    });
    for (const auto& q : pts)  // keep a point only if it keeps more than every faster one
      if (plan.front.empty() || q.saliency > plan.front.back().saliency + 1e-12) plan.front.push_back(q);
  }
  double sal_sum = 0;
  int nlayers = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const runtime::LayerSparsity& s = cands[option_cand[i][kr.choice[i]]];
    for (const auto& op : items[i]) {
      LayerChoice lc;
      lc.op = op;
      lc.setting = s;
      lc.dense_ms = dense_ms[op];
      lc.ms = pred.predict_op(op, s).ms;
      lc.kept_saliency = saliency(op, s);
      auto git = group_of.find(op);
      lc.group = items[i].size() > 1 && git != group_of.end() ? git->second : -1;
      if (s.format == runtime::Format::kBlock)
        for (const auto& [bf, bc] : o.blocks) {
          runtime::LayerSparsity t = s;
          t.bf = bf, t.bc = bc;
          lc.block_tradeoff.emplace_back(std::to_string(bf) + "x" + std::to_string(bc), pred.predict_op(op, t).ms,
                                         saliency(op, t));
        }
      sal_sum += lc.kept_saliency;
      ++nlayers;
      plan.layers.push_back(std::move(lc));
    }
  }
  for (const auto& name : keep_dense) {
    LayerChoice lc;
    lc.op = name;
    lc.dense_ms = lc.ms = dense_ms[name];
    plan.layers.push_back(lc);
    sal_sum += 1.0;
    ++nlayers;
  }
  plan.saliency = nlayers ? sal_sum / nlayers : 1.0;
  plan.predicted = pred.predict(plan.spec());

  // Unit split: the same formats with branches spread over the given units, kept if predicted faster.
  if (o.split_units.size() >= 2) {
    for (const auto& id : o.split_units)
      if (!profile.unit(id)) throw Error("--split-units", "the profile has no unit '" + id + "'");
    const runtime::SparsitySpec formats = plan.spec();
    const size_t n_layers = plan.layers.size();
    const auto assign = split_branches(pred, plan.spec(), o.split_units);
    runtime::SparsitySpec split = plan.spec();
    for (const auto& [op, unit] : assign) split.layers[op].unit = unit;
    const costmodel::Prediction sp = pred.predict(split);
    plan.no_split_ms = plan.predicted.ms;
    plan.split_ms = sp.ms;
    if (split_pays(sp.ms, plan.no_split_ms)) {
      plan.split = "branches";
      plan.predicted = sp;
      std::map<std::string, size_t> idx;
      for (size_t i = 0; i < plan.layers.size(); ++i) idx[plan.layers[i].op] = i;
      for (const auto& [op, unit] : assign) {
        auto it = idx.find(op);
        if (it != idx.end()) {
          plan.layers[it->second].setting.unit = unit;
        } else {
          LayerChoice lc;
          lc.op = op;
          lc.setting.unit = unit;
          plan.layers.push_back(lc);
        }
      }
    }
    // CoDL: one conv shared between the first two units, kept if faster than the best so far (and paying
    // for a split).
    plan.channel_split_best = best_channel_split(model, profile, formats, o.split_units[0], o.split_units[1]);
    if (const auto& c = plan.channel_split_best;
        c && c->predicted_ms < plan.predicted.ms && split_pays(c->predicted_ms, plan.no_split_ms)) {
      plan.split = "channels";
      plan.channel_split = c;
      plan.predicted = predict_channel_split(model, profile, formats, *c);
      // The branch split's units no longer apply, nor the entries it added for ops without a setting.
      plan.layers.resize(n_layers);
      for (LayerChoice& l : plan.layers) l.setting.unit.clear();
    }
  }
  return plan;
}

std::map<std::string, std::string> split_branches(costmodel::Predictor& pred, const runtime::SparsitySpec& config,
                                                  const std::vector<std::string>& units) {
  std::map<std::string, std::string> assign;
  for (const auto& op : pred.predict_placed(config, units).ops) assign[op.name] = op.unit;
  return assign;
}

std::string plan_to_json(const Plan& p) {
  json j = {{"version", kPlanVersion}, {"model", p.model}, {"profile", p.profile}, {"fingerprint", p.fingerprint},
            {"threads", p.threads}, {"unit", p.unit}, {"target_ms", p.target_ms}, {"dense_predicted_ms", p.dense_ms}};
  j["predicted"] = {{"ms", p.predicted.ms}, {"bytes", p.predicted.bytes}, {"energy_mj", p.predicted.energy_mj},
                    {"peak_memory_bytes", p.predicted.peak_memory_bytes}};
  j["mean_kept_saliency"] = p.saliency;
  j["solver"] = {{"method", "mckp-dp"}, {"gap", p.solver_gap}, {"upper_bound", p.solver_upper_bound}};
  j["split"] = {{"mode", p.split}, {"split_ms", p.split_ms}, {"no_split_ms", p.no_split_ms}};
  auto split_json = [](const ChannelSplitChoice& c) {
    return json{{"op", c.op},           {"unit", c.unit},       {"home", c.home},
                {"channels", c.channels}, {"of_channels", c.of_channels}, {"predicted_ms", c.predicted_ms}};
  };
  if (p.channel_split) j["channel_split"] = split_json(*p.channel_split);
  // Tried and not kept: what it would have been, for the record.
  if (p.channel_split_best && !p.channel_split) j["split"]["best_channel_split"] = split_json(*p.channel_split_best);
  json ops = json::object();
  for (const auto& l : p.layers) {
    json o;
    o["format"] = runtime::format_name(l.setting.format);
    if (l.setting.format == runtime::Format::kBlock || l.setting.format == runtime::Format::kBlockCol)
      o["block"] = {l.setting.bf, l.setting.bc};
    if (l.setting.format != runtime::Format::kDense && l.setting.format != runtime::Format::kPattern)
      o["ratio"] = l.setting.ratio;
    if (l.setting.format == runtime::Format::kPattern) o["entries"] = l.setting.entries;
    if (!l.setting.unit.empty()) o["unit"] = l.setting.unit;
    o["predicted_ms"] = l.ms;
    o["dense_predicted_ms"] = l.dense_ms;
    o["kept_saliency"] = l.kept_saliency;
    if (l.group >= 0) o["coupled_group"] = l.group;
    ops[l.op] = o;
  }
  j["ops"] = ops;
  return j.dump(2);
}

Plan plan_from_json(const std::string& text, const std::string& where) {
  json j = parse_json(text, where);
  auto need = [&](const char* k) -> const json& {
    if (!j.is_object() || !j.contains(k)) throw Error(where + ": field '" + k + "'", "missing");
    return j[k];
  };
  if (!need("version").is_number_integer() || j["version"].get<int>() != kPlanVersion)
    throw Error(where + ": field 'version'", "unsupported plan version (this hilsim reads " + std::to_string(kPlanVersion) + ")");
  Plan p;
  try {
    p.model = need("model").get<std::string>();
    p.fingerprint = need("fingerprint").get<std::string>();
    p.threads = need("threads").get<int>();
    p.target_ms = need("target_ms").get<double>();
    p.predicted.ms = need("predicted").at("ms").get<double>();
    p.profile = j.value("profile", "");
    p.unit = j.value("unit", "");
    p.dense_ms = j.value("dense_predicted_ms", 0.0);
    p.saliency = j.value("mean_kept_saliency", 0.0);
  } catch (const json::exception& e) {
    throw Error(where, std::string("a plan field has the wrong type: ") + e.what());
  }
  if (p.threads < 1) throw Error(where + ": field 'threads'", "must be >= 1");
  p.split = j.contains("split") && j["split"].is_object() ? j["split"].value("mode", "none") : "none";
  if (j.contains("channel_split")) {
    const json& c = j["channel_split"];
    try {
      p.channel_split = ChannelSplitChoice{c.at("op").get<std::string>(),   c.at("unit").get<std::string>(),
                                           c.at("home").get<std::string>(), c.at("channels").get<int64_t>(),
                                           c.at("of_channels").get<int64_t>(), c.value("predicted_ms", 0.0)};
    } catch (const json::exception& e) {
      throw Error(where + ": field 'channel_split'", std::string("missing or of the wrong type: ") + e.what());
    }
    if (p.channel_split->channels < 1 || p.channel_split->channels >= p.channel_split->of_channels)
      throw Error(where + ": field 'channel_split.channels'", "must be in 1..of_channels-1");
  }
  json ops = json::object();
  for (auto& [name, v] : need("ops").items()) {
    if (!v.is_object()) throw Error(where + ": field 'ops." + name + "'", "not an object");
    json l = json::object();
    for (const char* k : {"format", "block", "ratio", "entries", "unit"})
      if (v.contains(k)) l[k] = v[k];
    ops[name] = l;
  }
  runtime::SparsitySpec spec = runtime::parse_sparsity_json(ops.dump(), where + ": ops");
  for (const auto& [name, ls] : spec.layers) {
    LayerChoice lc;
    lc.op = name;
    lc.setting = ls;
    const json& v = j["ops"][name];
    lc.ms = v.value("predicted_ms", 0.0);
    lc.dense_ms = v.value("dense_predicted_ms", 0.0);
    lc.kept_saliency = v.value("kept_saliency", 1.0);
    lc.group = v.value("coupled_group", -1);
    p.layers.push_back(lc);
  }
  return p;
}

Plan load_plan(const std::string& path) {
  return plan_from_json(read_file(path, "cannot open the plan file"), path);
}

}  // namespace hilsim::partition
