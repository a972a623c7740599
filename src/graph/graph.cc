#include "hilsim/graph/graph.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <iterator>
#include <set>
#include <unordered_map>

#include "hilsim/util/error.h"

namespace hilsim::graph {

struct EdgeProps {
  std::string tensor;
};

using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Op, EdgeProps>;

struct Graph::Impl {
  BoostGraph g;
  bool dirty = false;
  std::unordered_map<std::string, OpId> producer;
  std::unordered_map<std::string, std::vector<OpId>> consumers;
  std::unordered_map<std::string, OpId> by_name;
};

Graph::Graph() : impl_(std::make_unique<Impl>()) {}
Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

Graph::Graph(const Graph& o)
    : name(o.name), opset(o.opset), impl_(std::make_unique<Impl>(*o.impl_)), inputs_(o.inputs_),
      outputs_(o.outputs_), infos_(o.infos_) {
  // Deep-copy constants so passes on a copy never touch the original's weights.
  for (const auto& [k, v] : o.constants_) constants_[k] = std::make_shared<Tensor>(*v);
}

Graph& Graph::operator=(const Graph& o) {
  if (this != &o) {
    Graph tmp(o);
    *this = std::move(tmp);
  }
  return *this;
}

OpId Graph::add_op(Op op) {
  if (op.name.empty()) op.name = fresh_name(op.type.empty() ? "op" : op.type);
  if (impl_->by_name.count(op.name)) throw Error("node '" + op.name + "'", "duplicate node name");
  OpId id = boost::add_vertex(std::move(op), impl_->g);
  impl_->by_name[impl_->g[id].name] = id;
  impl_->dirty = true;
  return id;
}

size_t Graph::num_ops() const { return boost::num_vertices(impl_->g); }

const Op& Graph::op(OpId id) const {
  if (id >= num_ops()) throw Error("graph '" + name + "'", "op id " + std::to_string(id) + " out of range");
  return impl_->g[id];
}

Op& Graph::mutable_op(OpId id) {
  if (id >= num_ops()) throw Error("graph '" + name + "'", "op id " + std::to_string(id) + " out of range");
  impl_->dirty = true;
  return impl_->g[id];
}

std::optional<OpId> Graph::find_op(const std::string& n) const {
  rebuild();
  auto it = impl_->by_name.find(n);
  if (it == impl_->by_name.end()) return std::nullopt;
  return it->second;
}

void Graph::remove_ops(const std::vector<OpId>& ids) {
  std::set<OpId> gone(ids.begin(), ids.end());
  BoostGraph fresh;
  for (OpId v = 0; v < num_ops(); ++v)
    if (!gone.count(v)) boost::add_vertex(std::move(impl_->g[v]), fresh);
  impl_->g = std::move(fresh);
  impl_->dirty = true;
}

void Graph::replace_uses(const std::string& from, const std::string& to) {
  for (OpId v = 0; v < num_ops(); ++v)
    for (auto& in : impl_->g[v].inputs)
      if (in == from) in = to;
  for (auto& o : outputs_)
    if (o == from) o = to;
  impl_->dirty = true;
}

std::string Graph::fresh_name(const std::string& base) const {
  rebuild();
  auto taken = [&](const std::string& n) {
    return impl_->by_name.count(n) || infos_.count(n) || constants_.count(n) || impl_->producer.count(n);
  };
  if (!taken(base)) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (!taken(n)) return n;
  }
}

void Graph::rebuild() const {
  Impl& im = *impl_;
  if (!im.dirty) return;
  BoostGraph& g = im.g;
  for (OpId v = 0; v < boost::num_vertices(g); ++v) boost::clear_out_edges(v, g);
  im.producer.clear();
  im.consumers.clear();
  im.by_name.clear();
  for (OpId v = 0; v < boost::num_vertices(g); ++v) {
    im.by_name[g[v].name] = v;
    for (const auto& out : g[v].outputs) {
      if (out.empty()) continue;
      auto [it, fresh] = im.producer.emplace(out, v);
      if (!fresh)
        throw Error("node '" + g[v].name + "'",
                    "tensor '" + out + "' is also produced by node '" + g[it->second].name + "'");
    }
  }
  for (OpId v = 0; v < boost::num_vertices(g); ++v) {
    std::set<std::string> seen;
    for (const auto& in : g[v].inputs) {
      if (in.empty() || !seen.insert(in).second) continue;
      im.consumers[in].push_back(v);
      auto p = im.producer.find(in);
      if (p != im.producer.end()) boost::add_edge(p->second, v, EdgeProps{in}, g);
    }
  }
  im.dirty = false;
}

std::optional<OpId> Graph::producer(const std::string& tensor) const {
  rebuild();
  auto it = impl_->producer.find(tensor);
  if (it == impl_->producer.end()) return std::nullopt;
  return it->second;
}

std::vector<OpId> Graph::consumers(const std::string& tensor) const {
  rebuild();
  auto it = impl_->consumers.find(tensor);
  if (it == impl_->consumers.end()) return {};
  return it->second;
}

std::vector<TensorEdge> Graph::in_edges(OpId id) const {
  rebuild();
  std::vector<TensorEdge> r;
  for (auto [a, b] = boost::in_edges(id, impl_->g); a != b; ++a)
    r.push_back({boost::source(*a, impl_->g), id, impl_->g[*a].tensor});
  return r;
}

std::vector<TensorEdge> Graph::out_edges(OpId id) const {
  rebuild();
  std::vector<TensorEdge> r;
  for (auto [a, b] = boost::out_edges(id, impl_->g); a != b; ++a)
    r.push_back({id, boost::target(*a, impl_->g), impl_->g[*a].tensor});
  return r;
}

std::vector<TensorEdge> Graph::edges() const {
  rebuild();
  std::vector<TensorEdge> r;
  for (auto [a, b] = boost::edges(impl_->g); a != b; ++a)
    r.push_back({boost::source(*a, impl_->g), boost::target(*a, impl_->g), impl_->g[*a].tensor});
  return r;
}

std::vector<OpId> Graph::topological_order() const {
  rebuild();
  // Kahn's algorithm, smallest id first, so the order is deterministic and follows the file's order
  // where the file is already sorted; boost::topological_sort would only report "not a dag".
  const BoostGraph& g = impl_->g;
  size_t n = boost::num_vertices(g);
  std::vector<size_t> indeg(n, 0);
  for (OpId v = 0; v < n; ++v) indeg[v] = boost::in_degree(v, g);
  std::set<OpId> ready;
  for (OpId v = 0; v < n; ++v)
    if (indeg[v] == 0) ready.insert(v);
  std::vector<OpId> order;
  order.reserve(n);
  while (!ready.empty()) {
    OpId v = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(v);
    for (auto [a, b] = boost::out_edges(v, g); a != b; ++a) {
      OpId t = boost::target(*a, g);
      if (--indeg[t] == 0) ready.insert(t);
    }
  }
  if (order.size() != n) {
    for (OpId v = 0; v < n; ++v)
      if (indeg[v] > 0)
        throw Error("node '" + g[v].name + "'", "the graph has a cycle through this node");
  }
  return order;
}

void Graph::add_input(TensorInfo info) {
  inputs_.push_back(info.name);
  infos_[info.name] = std::move(info);
}

void Graph::add_output(const std::string& n) { outputs_.push_back(n); }

bool Graph::is_constant(const std::string& n) const { return constants_.count(n) != 0; }

const Tensor* Graph::constant(const std::string& n) const {
  auto it = constants_.find(n);
  return it == constants_.end() ? nullptr : it->second.get();
}

Tensor* Graph::mutable_constant(const std::string& n) {
  auto it = constants_.find(n);
  return it == constants_.end() ? nullptr : it->second.get();
}

void Graph::set_constant(Tensor t) {
  TensorInfo info{t.name, t.dtype, t.shape, true};
  infos_[t.name] = info;
  std::string key = t.name;
  constants_[key] = std::make_shared<Tensor>(std::move(t));
}

void Graph::remove_constant(const std::string& n) {
  constants_.erase(n);
  infos_.erase(n);
}

void Graph::remove_dead_ops(const std::vector<OpId>& dead) {
  if (dead.empty()) return;
  remove_ops(dead);
  prune_unused_constants();
}

void Graph::prune_unused_constants() {
  std::set<std::string> used(outputs_.begin(), outputs_.end());
  for (OpId v = 0; v < num_ops(); ++v)
    for (const auto& in : op(v).inputs) used.insert(in);
  for (auto it = constants_.begin(); it != constants_.end();) {
    if (!used.count(it->first)) {
      infos_.erase(it->first);
      it = constants_.erase(it);
    } else {
      ++it;
    }
  }
}

const TensorInfo* Graph::tensor_info(const std::string& n) const {
  auto it = infos_.find(n);
  return it == infos_.end() ? nullptr : &it->second;
}

void Graph::set_tensor_info(TensorInfo info) {
  std::string key = info.name;
  infos_[key] = std::move(info);
}

const Shape& Graph::shape(const std::string& n) const {
  const TensorInfo* t = tensor_info(n);
  if (!t || !t->known) throw Error("tensor '" + n + "'", "shape is unknown (run shape inference first)");
  return t->shape;
}

}  // namespace hilsim::graph
