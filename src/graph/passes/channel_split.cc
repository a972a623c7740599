#include "hilsim/graph/passes/channel_split.h"

#include "hilsim/graph/shape_inference.h"
#include "hilsim/util/error.h"

namespace hilsim::graph::passes {

namespace {

// Rows [from, to) of a tensor whose first dimension is the output channel.
Tensor rows(const Tensor& t, int64_t from, int64_t to, const std::string& name) {
  Tensor r;
  r.name = name;
  r.shape = t.shape;
  r.shape[0] = to - from;
  const int64_t per_row = t.shape[0] ? t.numel() / t.shape[0] : 0;
  r.f32.assign(t.f32.begin() + from * per_row, t.f32.begin() + to * per_row);
  return r;
}

}  // namespace

ChannelSplitParts split_conv_channels(Graph& g, const std::string& name, int64_t first_channels) {
  const std::string where = "channel split of op '" + name + "'";
  const auto id = g.find_op(name);
  if (!id) throw Error(where, "the model has no such op (after BN folding and fusion)");
  const Op conv = g.op(*id);
  if (conv.type != "Conv") throw Error(where, "is a " + conv.type + "; only a conv is split along its output channels");
  const Tensor* w = conv.inputs.size() > 1 ? g.constant(conv.inputs[1]) : nullptr;
  if (!w || w->dtype != DType::kFloat32 || w->shape.size() != 4) throw Error(where, "its weights are not a constant fp32 4-d tensor");
  if (conv.attr_int("group", 1) != 1) throw Error(where, "not supported yet: splitting a grouped or depthwise conv");
  const int64_t f = w->shape[0];
  if (first_channels < 1 || first_channels >= f)
    throw Error(where, "first part of " + std::to_string(first_channels) + " output channels: must be in 1.." + std::to_string(f - 1));
  const Tensor* bias = conv.input(2) ? g.constant(*conv.input(2)) : nullptr;
  if (conv.input(2) && !bias) throw Error(where, "its bias is not constant");

  ChannelSplitParts parts{name + "/ch0", name + "/ch1", name + "/join"};
  const std::string out = conv.outputs.at(0);
  const int64_t bounds[3] = {0, first_channels, f};
  Op join;
  join.name = parts.join;
  join.type = "Concat";
  join.attrs["axis"] = int64_t{1};
  join.outputs = {out};
  std::vector<Op> halves;
  for (int i = 0; i < 2; ++i) {
    Op part = conv;
    part.name = i == 0 ? parts.first : parts.second;
    g.set_constant(rows(*w, bounds[i], bounds[i + 1], part.name + ".weight"));
    part.inputs[1] = part.name + ".weight";
    if (bias) {
      g.set_constant(rows(*bias, bounds[i], bounds[i + 1], part.name + ".bias"));
      part.inputs[2] = part.name + ".bias";
    }
    part.outputs = {part.name + ".out"};
    join.inputs.push_back(part.outputs[0]);
    halves.push_back(std::move(part));
  }
  g.remove_ops({*id});
  for (Op& h : halves) g.add_op(std::move(h));
  g.add_op(std::move(join));
  g.prune_unused_constants();  // the whole conv's weights
  infer_shapes(g);
  return parts;
}

}  // namespace hilsim::graph::passes
