// The hilsim IR: a Boost.Graph adjacency_list whose vertices are ops and whose edges are the tensors
// flowing between them. Boost stays behind this header: later areas see op ids, names and tensors.
//
// Connectivity is derived from tensor names (an op's inputs/outputs), so passes edit ops by name and
// the edge set is rebuilt lazily on the next query; op ids are stable until remove_ops()/compact.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/graph/op.h"
#include "hilsim/graph/tensor.h"

namespace hilsim::graph {

using OpId = std::size_t;

// Facts about one named tensor (graph input/output, intermediate or constant).
struct TensorInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // empty with known==false until shape inference ran
  bool known = false;
};

// An edge of the IR: the tensor `tensor` produced by `from` and consumed by `to`.
struct TensorEdge {
  OpId from;
  OpId to;
  std::string tensor;
};

class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&);
  Graph& operator=(const Graph&);
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;

  std::string name = "graph";
  int64_t opset = 13;

  // --- ops ---
  OpId add_op(Op op);
  size_t num_ops() const;
  const Op& op(OpId id) const;
  Op& mutable_op(OpId id);  // marks connectivity dirty; edges are rebuilt on next query
  std::optional<OpId> find_op(const std::string& name) const;
  // Removes the ops and renumbers the rest (ids change; order of the rest is kept).
  void remove_ops(const std::vector<OpId>& ids);
  // A pass's clean-up: the ops it made dead (none: nothing happens) and the constants only they read.
  void remove_dead_ops(const std::vector<OpId>& dead);
  // Rewrites every use of tensor `from` (op inputs, graph outputs) to `to`.
  void replace_uses(const std::string& from, const std::string& to);
  // Unique name for a new op or tensor, derived from `base`.
  std::string fresh_name(const std::string& base) const;

  // --- connectivity ---
  std::optional<OpId> producer(const std::string& tensor) const;
  std::vector<OpId> consumers(const std::string& tensor) const;
  std::vector<TensorEdge> in_edges(OpId id) const;
  std::vector<TensorEdge> out_edges(OpId id) const;
  std::vector<TensorEdge> edges() const;
  // Topological order; throws hilsim::Error naming an op on the cycle if there is one.
  std::vector<OpId> topological_order() const;

  // --- tensors ---
  const std::vector<std::string>& inputs() const { return inputs_; }
  const std::vector<std::string>& outputs() const { return outputs_; }
  void add_input(TensorInfo info);
  void add_output(const std::string& name);
  void set_outputs(std::vector<std::string> names) { outputs_ = std::move(names); }

  bool is_constant(const std::string& name) const;
  const Tensor* constant(const std::string& name) const;
  Tensor* mutable_constant(const std::string& name);
  void set_constant(Tensor t);  // adds or replaces; records its TensorInfo too
  void remove_constant(const std::string& name);
  const std::map<std::string, std::shared_ptr<Tensor>>& constants() const { return constants_; }
  // Drops constants no op uses any more.
  void prune_unused_constants();

  const TensorInfo* tensor_info(const std::string& name) const;
  void set_tensor_info(TensorInfo info);
  const std::map<std::string, TensorInfo>& tensor_infos() const { return infos_; }
  // Shape of a tensor; throws naming the tensor if unknown.
  const Shape& shape(const std::string& name) const;

 private:
  struct Impl;
  void rebuild() const;

  std::unique_ptr<Impl> impl_;
  std::vector<std::string> inputs_;
  std::vector<std::string> outputs_;
  std::map<std::string, std::shared_ptr<Tensor>> constants_;
  std::map<std::string, TensorInfo> infos_;
};

}  // namespace hilsim::graph
