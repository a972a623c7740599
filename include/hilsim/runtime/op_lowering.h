// Lowers the non-conv ops of a graph to closures over the executor's arena: the memory-bound kernels
// (elementwise with broadcasting, unary math, standalone batch norm, layer norm, softmax, reductions,
// concat, pooling, nearest and bilinear resize, activations, transpose / slice / split / pad as
// strided copies, reshapes as copies) and, for rare ops with no fast kernel (or attributes only known
// at run time), the reference implementation on a one-op graph (named "reference" in the per-op
// table, so nobody mistakes it for a tuned kernel).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <optional>

#include "hilsim/graph/graph.h"
#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/thread_pool.h"

namespace hilsim::runtime {

struct LoweredOp {
  std::function<void(kernels::ThreadPool&)> fn;
  std::string kernel;
};

// Maps a buffer index to its address at run time.
using BufferAddress = std::function<float*(int)>;

// The window of a 2-D MaxPool / AveragePool node as the pooling kernel runs it (auto_pad and pads
// resolved); nullopt for pools the kernel does not take (dilated, not 4-D). Throws on bad attributes.
std::optional<kernels::Pool2dShape> pool2d_shape_of(const graph::Graph& g, const graph::Op& op);

// `in`/`out`: buffer index per op input/output, -1 for constants (read from `g`, which must outlive
// the closure) and absent optionals.
LoweredOp lower_memory_op(const graph::Graph& g, const graph::Op& op, const std::vector<int>& in,
                          const std::vector<int>& out, BufferAddress address);

// The op types with a native kernel (for their common forms; other forms, e.g. a Pad whose pads are
// computed at run time, still take the reference path), sorted; keyed by the op registry's names.
std::vector<std::string> native_op_types();

}  // namespace hilsim::runtime
