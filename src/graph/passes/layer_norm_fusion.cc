#include "hilsim/graph/passes/layer_norm_fusion.h"

#include <algorithm>

namespace hilsim::graph::passes {

namespace {

bool is_output(const Graph& g, const std::string& t) {
  return std::find(g.outputs().begin(), g.outputs().end(), t) != g.outputs().end();
}

// The single consumer of `t` of type `type`, when `t` has exactly `uses` consumers and is no output.
std::optional<OpId> only_consumer(const Graph& g, const std::string& t, const std::string& type, size_t uses = 1) {
  if (is_output(g, t)) return std::nullopt;
  const auto cs = g.consumers(t);
  if (cs.size() != uses) return std::nullopt;
  for (OpId c : cs)
    if (g.op(c).type == type && !g.op(c).unknown && g.op(c).fused.kind == Activation::kNone) return c;
  return std::nullopt;
}

// A constant scalar's value (any float tensor of one element).
std::optional<float> scalar(const Graph& g, const std::string& t) {
  const Tensor* c = g.constant(t);
  if (!c || c->dtype != DType::kFloat32 || c->numel() != 1) return std::nullopt;
  return c->f32[0];
}

// The first normalised axis of a ReduceMean over trailing axes (keepdims), or nullopt.
std::optional<int64_t> trailing_axis(const Graph& g, const Op& r) {
  if (r.type != "ReduceMean" || r.inputs.size() != 1 || r.attr_int("keepdims", 1) != 1 || r.unknown) return std::nullopt;
  const TensorInfo* x = g.tensor_info(r.inputs[0]);
  if (!x || !x->known || x->shape.empty()) return std::nullopt;
  const auto rank = static_cast<int64_t>(x->shape.size());
  std::vector<int64_t> axes = r.attr_ints("axes");
  if (axes.empty()) return std::nullopt;
  for (auto& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return std::nullopt;
  return axes.front();
}

// Input of binary op `op` other than `t` (nullopt if `t` is not one of its two inputs).
std::optional<std::string> other_input(const Op& op, const std::string& t) {
  if (op.inputs.size() != 2) return std::nullopt;
  if (op.inputs[0] == t) return op.inputs[1];
  if (op.inputs[1] == t) return op.inputs[0];
  return std::nullopt;
}

}  // namespace

int fuse_layer_norm(Graph& g, std::vector<std::string>* removed) {
  int fused = 0;
  std::vector<OpId> dead;
  for (OpId r1 : g.topological_order()) {
    const Op& mean_op = g.op(r1);  // a chain fused earlier has no inputs left: trailing_axis refuses it
    const auto axis = trailing_axis(g, mean_op);
    if (!axis) continue;
    const std::string x = mean_op.inputs[0];
    const auto sub = only_consumer(g, mean_op.outputs[0], "Sub");
    if (!sub || g.op(*sub).inputs != std::vector<std::string>{x, mean_op.outputs[0]}) continue;
    const std::string d = g.op(*sub).outputs[0];
    // d feeds the Pow and the Div, in either order.
    if (is_output(g, d) || g.consumers(d).size() != 2) continue;
    std::optional<OpId> pow, div;
    for (OpId c : g.consumers(d)) {
      if (g.op(c).type == "Pow") pow = c;
      if (g.op(c).type == "Div") div = c;
    }
    if (!pow || !div || g.op(*pow).inputs.size() != 2 || g.op(*pow).inputs[0] != d) continue;
    if (scalar(g, g.op(*pow).inputs[1]) != 2.0f) continue;
    const auto r2 = only_consumer(g, g.op(*pow).outputs[0], "ReduceMean");
    if (!r2 || trailing_axis(g, g.op(*r2)) != axis) continue;
    const auto add_eps = only_consumer(g, g.op(*r2).outputs[0], "Add");
    if (!add_eps) continue;
    const auto eps_name = other_input(g.op(*add_eps), g.op(*r2).outputs[0]);
    const auto eps = eps_name ? scalar(g, *eps_name) : std::nullopt;
    if (!eps || !(*eps >= 0.0f)) continue;
    const auto sqrt = only_consumer(g, g.op(*add_eps).outputs[0], "Sqrt");
    if (!sqrt || g.op(*div).inputs != std::vector<std::string>{d, g.op(*sqrt).outputs[0]}) continue;
    if (!only_consumer(g, g.op(*sqrt).outputs[0], "Div")) continue;

    // Optional affine: Mul by a constant scale, then Add of a constant bias, each over the normalised axes.
    const Shape& xs = g.shape(x);
    int64_t norm = 1;
    for (size_t i = static_cast<size_t>(*axis); i < xs.size(); ++i) norm *= xs[i];
    Shape affine_shape(xs.begin() + *axis, xs.end());
    auto affine = [&](const std::string& t) -> std::optional<std::string> {
      const Tensor* c = g.constant(t);
      if (!c || c->dtype != DType::kFloat32 || c->numel() != norm) return std::nullopt;
      return t;
    };
    std::string out = g.op(*div).outputs[0];
    std::vector<OpId> chain = {r1, *sub, *pow, *r2, *add_eps, *sqrt, *div};
    std::string scale_name, bias_name;
    if (const auto mul = only_consumer(g, out, "Mul")) {
      if (const auto s = other_input(g.op(*mul), out); s && affine(*s)) {
        scale_name = *s;
        chain.push_back(*mul);
        out = g.op(*mul).outputs[0];
        if (const auto add = only_consumer(g, out, "Add")) {
          if (const auto b = other_input(g.op(*add), out); b && affine(*b)) {
            bias_name = *b;
            chain.push_back(*add);
            out = g.op(*add).outputs[0];
          }
        }
      }
    }
    // LayerNormalization takes its scale and bias in the normalised axes' shape.
    auto shaped = [&](const std::string& name, float fill, const std::string& base) {
      Tensor t = Tensor::zeros(g.fresh_name(base), affine_shape);
      if (name.empty()) std::fill(t.f32.begin(), t.f32.end(), fill);
      else t.f32 = g.constant(name)->f32;
      const std::string n = t.name;
      g.set_constant(std::move(t));
      return n;
    };
    // The LayerNormalization node takes the last op's place (its name and output), the others go.
    const std::string base = mean_op.name;
    const std::string scale = shaped(scale_name, 1.0f, base + ".scale");
    const std::string bias = shaped(bias_name, 0.0f, base + ".bias");
    const OpId last = chain.back();
    chain.pop_back();
    for (OpId id : chain) {
      if (removed) removed->push_back(g.op(id).name);
      g.mutable_op(id).inputs.clear();
      g.mutable_op(id).outputs.clear();
      dead.push_back(id);
    }
    Op& ln = g.mutable_op(last);
    ln.type = "LayerNormalization";
    ln.attrs.clear();
    ln.attrs["axis"] = *axis;
    ln.attrs["epsilon"] = *eps;
    ln.inputs = {x, scale, bias};
    ln.outputs = {out};
    ++fused;
  }
  g.remove_dead_ops(dead);
  return fused;
}

}  // namespace hilsim::graph::passes
