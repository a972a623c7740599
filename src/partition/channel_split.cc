#include "hilsim/partition/channel_split.h"

#include <algorithm>
#include <map>
#include <set>

#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/passes/channel_split.h"
#include "hilsim/util/error.h"

namespace hilsim::partition {

costmodel::Prediction predict_channel_split(const graph::Graph& model, const model::Profile& profile,
                                            const runtime::SparsitySpec& config, const ChannelSplitChoice& c,
                                            bool with_trace) {
  const std::string where = "channel split of op '" + c.op + "'";
  const std::optional<runtime::LayerSparsity> own = config.for_op(c.op);
  if (own && own->format != runtime::Format::kDense)
    throw Error(where, "not supported yet: splitting a pruned conv (dense convs only)");
  graph::Graph g = model;
  graph::passes::canonicalize(g);
  const graph::passes::ChannelSplitParts parts = graph::passes::split_conv_channels(g, c.op, c.channels);
  runtime::SparsitySpec cfg = config;
  cfg.layers.erase(c.op);
  // The parts stay dense whatever a uniform spec says, as the executor runs them.
  cfg.layers[parts.first] = runtime::LayerSparsity{};
  cfg.layers[parts.first].unit = c.unit;
  cfg.layers[parts.second] = runtime::LayerSparsity{};
  cfg.layers[parts.second].unit = c.home;
  cfg.layers[parts.join].unit = c.home;
  costmodel::PredictorOptions po;
  po.default_unit = c.home;
  costmodel::Predictor pred(g, profile, po);
  return pred.predict(cfg, with_trace);
}

std::optional<ChannelSplitChoice> best_channel_split(const graph::Graph& model, const model::Profile& profile,
                                                     const runtime::SparsitySpec& config, const std::string& home,
                                                     const std::string& unit, int max_convs) {
  for (const std::string& u : {home, unit})
    if (!profile.unit(u)) throw Error("channel split", "the profile has no unit '" + u + "'");
  if (home == unit) throw Error("channel split", "needs two units, got '" + home + "' twice");
  graph::Graph cg = model;
  graph::passes::canonicalize(cg);
  // The heaviest dense convs: where a second unit's help outweighs a crossing's fixed cost.
  std::vector<std::pair<int64_t, std::string>> convs;
  std::map<std::string, int64_t> out_channels;
  for (graph::OpId id : cg.topological_order()) {
    const graph::Op& op = cg.op(id);
    if (op.type != "Conv" || op.attr_int("group", 1) != 1) continue;
    const graph::Tensor* w = op.inputs.size() > 1 ? cg.constant(op.inputs[1]) : nullptr;
    if (!w || w->shape.size() != 4 || w->shape[0] < 2) continue;
    const std::optional<runtime::LayerSparsity> ls = config.for_op(op.name);
    if (ls && (ls->format != runtime::Format::kDense || (!ls->unit.empty() && ls->unit != home))) continue;
    convs.emplace_back(analysis::analyze_op(cg, id).macs, op.name);
    out_channels[op.name] = w->shape[0];
  }
  std::sort(convs.begin(), convs.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (static_cast<int>(convs.size()) > max_convs) convs.resize(static_cast<size_t>(std::max(0, max_convs)));
  std::optional<ChannelSplitChoice> best;
  for (const auto& [macs, op] : convs) {
    const int64_t f = out_channels.at(op);
    std::set<int64_t> tried;
    for (int eighths = 1; eighths < 8; ++eighths) {
      const int64_t ch = std::clamp<int64_t>((f * eighths + 4) / 8, 1, f - 1);
      if (!tried.insert(ch).second) continue;
      ChannelSplitChoice c{op, unit, home, ch, f, 0};
      c.predicted_ms = predict_channel_split(model, profile, config, c).ms;
      if (!best || c.predicted_ms < best->predicted_ms) best = c;
    }
  }
  return best;
}

}  // namespace hilsim::partition
