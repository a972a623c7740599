#include "hilsim/analysis/analysis.h"

#include <algorithm>
#include <map>
#include <set>

#include "hilsim/util/error.h"

namespace hilsim::analysis {

namespace {

int64_t tensor_bytes(const graph::Graph& g, const std::string& name) {
  const graph::TensorInfo* t = g.tensor_info(name);
  if (!t || !t->known) return 0;
  return std::max<int64_t>(0, graph::numel(t->shape)) * graph::dtype_size(t->dtype);
}

}  // namespace

OpFacts analyze_op(const graph::Graph& g, graph::OpId id) {
  const graph::Op& op = g.op(id);
  OpFacts f;
  f.name = op.name;
  f.type = op.type;
  f.unknown = op.unknown;
  if (!op.outputs.empty()) {
    const graph::TensorInfo* t = g.tensor_info(op.outputs[0]);
    if (t && t->known) f.out_shape = t->shape;
  }
  for (const auto& in : op.inputs) {
    if (in.empty()) continue;
    f.bytes_read += tensor_bytes(g, in);
    if (const graph::Tensor* c = g.constant(in); c && c->dtype == graph::DType::kFloat32) f.params += c->numel();
  }
  for (const auto& out : op.outputs)
    if (!out.empty()) f.bytes_written += tensor_bytes(g, out);
  if (op.type == "Conv") {
    const graph::Shape& w = g.shape(op.inputs.at(1));
    int64_t k = w.at(1);  // = Cin / groups
    for (size_t i = 2; i < w.size(); ++i) k *= w[i];
    f.macs = graph::numel(g.shape(op.outputs.at(0))) * k;
  } else if (op.type == "Gemm") {
    const graph::Shape& a = g.shape(op.inputs.at(0));
    const int64_t k = op.attr_int("transA", 0) ? a.at(0) : a.at(1);
    f.macs = graph::numel(g.shape(op.outputs.at(0))) * k;
  } else if (op.type == "MatMul") {
    const graph::Shape& a = g.shape(op.inputs.at(0));
    f.macs = graph::numel(g.shape(op.outputs.at(0))) * a.back();
  }
  const int64_t moved = f.bytes_read + f.bytes_written;
  f.intensity = moved > 0 ? 2.0 * static_cast<double>(f.macs) / static_cast<double>(moved) : 0.0;
  return f;
}

int64_t peak_activation_bytes(const graph::Graph& g, const std::vector<graph::OpId>& order) {
  std::map<std::string, size_t> last_use;
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& in : g.op(order[i]).inputs)
      if (!in.empty() && !g.is_constant(in)) last_use[in] = i;
  const std::set<std::string> outputs(g.outputs().begin(), g.outputs().end());
  for (const auto& o : outputs) last_use[o] = order.size();
  int64_t live = 0, peak = 0;
  for (const auto& in : g.inputs()) live += tensor_bytes(g, in);
  peak = live;
  std::map<size_t, std::vector<std::string>> frees;
  for (const auto& [name, step] : last_use) frees[step].push_back(name);
  for (const auto& in : g.inputs())
    if (!last_use.count(in)) live -= tensor_bytes(g, in);  // unused input
  for (size_t i = 0; i < order.size(); ++i) {
    const graph::Op& op = g.op(order[i]);
    for (const auto& out : op.outputs)
      if (!out.empty()) live += tensor_bytes(g, out);
    peak = std::max(peak, live);
    for (const auto& out : op.outputs)  // outputs nobody reads die at once
      if (!out.empty() && !last_use.count(out)) live -= tensor_bytes(g, out);
    for (const auto& name : frees[i]) live -= tensor_bytes(g, name);
  }
  return peak;
}

ModelFacts analyze(const graph::Graph& g) {
  ModelFacts m;
  const auto order = g.topological_order();
  for (graph::OpId id : order) {
    OpFacts f = analyze_op(g, id);
    m.macs += f.macs;
    m.params += f.params;
    m.bytes += f.bytes_read + f.bytes_written;
    m.ops.push_back(std::move(f));
  }
  m.peak_activation_bytes = peak_activation_bytes(g, order);
  return m;
}

}  // namespace hilsim::analysis
