#include "hilsim/graph/passes/reparam.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "hilsim/graph/passes/bn_fold.h"

namespace hilsim::graph::passes {

namespace {

bool is_graph_output(const Graph& g, const std::string& t) {
  return std::find(g.outputs().begin(), g.outputs().end(), t) != g.outputs().end();
}

// A branch of a re-parameterisable sum: a conv over X, a BN over X (identity with scale), or X itself.
struct Branch {
  OpId op = 0;
  bool is_conv = false, is_bn = false;
};

// Collects the leaves of the Add tree rooted at `root`; the inner Adds go to `adds`.
void collect(const Graph& g, OpId root, std::vector<std::string>& leaves, std::vector<OpId>& adds) {
  adds.push_back(root);
  for (const auto& in : g.op(root).inputs) {
    auto p = g.producer(in);
    if (p && g.op(*p).type == "Add" && g.consumers(in).size() == 1 && !is_graph_output(g, in)) {
      collect(g, *p, leaves, adds);
    } else {
      leaves.push_back(in);
    }
  }
}

}  // namespace

int reparameterize(Graph& g) {
  fold_batchnorm(g);  // conv+BN branches become biased convs first
  int merged = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (OpId id : g.topological_order()) {
      const Op& add = g.op(id);
      if (add.type != "Add") continue;
      // Only roots: an Add consumed by another Add of the same tree is visited through its root.
      const auto users = g.consumers(add.outputs[0]);
      if (users.size() == 1 && g.op(users[0]).type == "Add" && !is_graph_output(g, add.outputs[0])) continue;
      std::vector<std::string> leaves;
      std::vector<OpId> adds;
      collect(g, id, leaves, adds);
      if (leaves.size() < 2) continue;
      // Every leaf must read the same X: conv(X), BN(X) or X.
      std::string x;
      std::vector<OpId> convs, bns;
      bool identity_plain = false, ok = true;
      for (const auto& l : leaves) {
        auto p = g.producer(l);
        std::string src;
        if (p && (g.op(*p).type == "Conv" || g.op(*p).type == "BatchNormalization") &&
            g.consumers(l).size() == 1 && !is_graph_output(g, l) && g.op(*p).fused.kind == Activation::kNone) {
          src = g.op(*p).inputs[0];
          (g.op(*p).type == "Conv" ? convs : bns).push_back(*p);
        } else {
          src = l;
          if (identity_plain) ok = false;
          identity_plain = true;
        }
        if (x.empty()) x = src;
        if (src != x) ok = false;
      }
      if (!ok || convs.empty() || g.is_constant(x)) continue;
      // Convs must agree on everything but the (odd, centred) kernel size.
      const Op& c0 = g.op(convs[0]);
      const auto strides = c0.attr_ints("strides", {1, 1});
      const int64_t groups = c0.attr_int("group", 1);
      const Shape& w0 = g.shape(c0.inputs[1]);
      const int64_t f = w0[0], cg = w0[1];
      int64_t K = 0;
      for (OpId c : convs) {
        const Op& o = g.op(c);
        const Shape& w = g.shape(o.inputs[1]);
        if (w.size() != 4 || w[0] != f || w[1] != cg || w[2] != w[3] || w[2] % 2 == 0) ok = false;
        if (!ok) break;
        const int64_t k = w[2], p = (k - 1) / 2;
        if (o.attr_ints("strides", {1, 1}) != strides || o.attr_int("group", 1) != groups ||
            o.attr_ints("dilations", {1, 1}) != std::vector<int64_t>{1, 1} ||
            o.attr_ints("pads", {0, 0, 0, 0}) != std::vector<int64_t>{p, p, p, p} ||
            o.attr_string("auto_pad", "NOTSET") != "NOTSET" || !g.is_constant(o.inputs[1]) ||
            (o.input(2) && !g.is_constant(*o.input(2))))
          ok = false;
        K = std::max(K, k);
      }
      const int64_t C = g.shape(x).at(1);
      if (!ok || ((!bns.empty() || identity_plain) && (f != C || strides != std::vector<int64_t>{1, 1}))) continue;
      const int64_t fg = f / groups;
      // Sum the branches into one K x K kernel.
      Tensor w = Tensor::zeros(g.fresh_name(c0.name + ".weight_reparam"), {f, cg, K, K});
      Tensor b = Tensor::zeros(g.fresh_name(c0.name + ".bias_reparam"), {f});
      for (OpId c : convs) {
        const Op& o = g.op(c);
        const Tensor* wc = g.constant(o.inputs[1]);
        const int64_t k = wc->shape[2], off = (K - k) / 2;
        for (int64_t fo = 0; fo < f; ++fo)
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t y = 0; y < k; ++y)
              for (int64_t xx = 0; xx < k; ++xx)
                w.f32[((fo * cg + ci) * K + y + off) * K + xx + off] += wc->f32[((fo * cg + ci) * k + y) * k + xx];
        if (auto bn = o.input(2))
          for (int64_t fo = 0; fo < f; ++fo) b.f32[fo] += g.constant(*bn)->f32[fo];
      }
      auto add_identity = [&](int64_t fo, double scale) {
        const int64_t local = fo % cg;  // input channel fo sits at this index within its group
        (void)fg;
        w.f32[((fo * cg + local) * K + K / 2) * K + K / 2] += static_cast<float>(scale);
      };
      for (OpId bi : bns) {
        const Op& o = g.op(bi);
        const Tensor *ga = g.constant(o.inputs[1]), *be = g.constant(o.inputs[2]), *mu = g.constant(o.inputs[3]),
                     *va = g.constant(o.inputs[4]);
        if (!ga || !be || !mu || !va) {
          ok = false;
          break;
        }
        const double eps = o.attr_float("epsilon", 1e-5f);
        for (int64_t fo = 0; fo < f; ++fo) {
          const double s = ga->f32[fo] / std::sqrt(static_cast<double>(va->f32[fo]) + eps);
          add_identity(fo, s);
          b.f32[fo] += static_cast<float>(be->f32[fo] - mu->f32[fo] * s);
        }
      }
      if (!ok) continue;
      if (identity_plain)
        for (int64_t fo = 0; fo < f; ++fo) add_identity(fo, 1.0);
      // The merged conv replaces the root Add.
      Op conv;
      // Name it after the block (MobileOne's "stage1.0.dw.conv0" -> "stage1.0.dw").
      std::string base = c0.name;
      const auto dot = base.rfind('.');
      if (dot != std::string::npos && base.compare(dot, 5, ".conv") == 0) base = base.substr(0, dot);
      else base = add.name + "_reparam";
      conv.name = g.fresh_name(base);
      conv.type = "Conv";
      conv.inputs = {x, w.name, b.name};
      conv.outputs = {add.outputs[0]};
      const int64_t P = (K - 1) / 2;
      conv.attrs = {{"kernel_shape", std::vector<int64_t>{K, K}},
                    {"strides", strides},
                    {"pads", std::vector<int64_t>{P, P, P, P}},
                    {"dilations", std::vector<int64_t>{1, 1}},
                    {"group", groups}};
      std::vector<OpId> dead = adds;
      dead.insert(dead.end(), convs.begin(), convs.end());
      dead.insert(dead.end(), bns.begin(), bns.end());
      for (OpId d : dead) {
        g.mutable_op(d).inputs.clear();
        g.mutable_op(d).outputs.clear();
      }
      g.set_constant(std::move(w));
      g.set_constant(std::move(b));
      g.add_op(std::move(conv));
      g.remove_dead_ops(dead);
      merged += static_cast<int>(adds.size());
      changed = true;
      break;  // ids changed: start over
    }
  }
  return merged;
}

}  // namespace hilsim::graph::passes
