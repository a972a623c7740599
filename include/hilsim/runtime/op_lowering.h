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
#include "hilsim/kernels/layout_ops.h"
#include "hilsim/kernels/math_ops.h"
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

// The kernel parameters of one op, as its lowering computes them from the graph: the executor's
// closures and the library generator (which prints them as constants and calls the same kernel) both
// use these, so an emitted library runs the runtime's kernels on the runtime's geometry. Each returns
// nullopt for a form the native kernel does not take (the runtime then runs the reference) and
// throws hilsim::Error naming the node on bad attributes.

// Transpose, Slice, Split, Expand and Gather of one constant index: one strided copy per output
// (empty outputs of a Split are skipped; `outputs` holds the index of each copy's output).
struct CopyParams {
  std::string kernel;
  std::vector<kernels::StridedCopy> copies;
  std::vector<size_t> outputs;
};
std::optional<CopyParams> copy_params(const graph::Graph& g, const graph::Op& op);

// Add, Sub, Mul, Div, Max, Min, Mod (two inputs, numpy broadcasting) with the op's fused activation.
struct BinaryParams {
  kernels::BinaryOp kind = kernels::BinaryOp::kAdd;
  std::string kernel;
  graph::Shape a, b;
  kernels::Epilogue ep;
};
std::optional<BinaryParams> binary_params(const graph::Graph& g, const graph::Op& op);

// A standalone Relu / Sigmoid / HardSwish / HardSigmoid / Clip (constant bounds): an epilogue applied in place.
std::optional<kernels::Epilogue> activation_params(const graph::Graph& g, const graph::Op& op);

// Erf, Tanh, LeakyRelu, Exp, Sqrt, Neg, Abs, Gelu and Pow by a constant scalar over n elements.
struct UnaryParams {
  kernels::UnaryOp kind = kernels::UnaryOp::kErf;
  std::string kernel;
  int64_t n = 0;
  float alpha = 0.01f;  // LeakyRelu's slope, Pow's exponent
};
std::optional<UnaryParams> unary_params(const graph::Graph& g, const graph::Op& op);

// Softmax over the middle dim of [outer, mid, inner].
struct SoftmaxParams {
  int64_t outer = 0, mid = 0, inner = 0;
};
std::optional<SoftmaxParams> softmax_params(const graph::Graph& g, const graph::Op& op);

// Inference BatchNormalization as a per-channel affine pass, scale and shift folded from the statistics.
struct BatchNormParams {
  int64_t n = 0, c = 0, inner = 0;
  std::vector<float> scale, shift;
  kernels::Epilogue ep;
};
std::optional<BatchNormParams> batchnorm_params(const graph::Graph& g, const graph::Op& op);

// ReduceMean / ReduceSum / ReduceMax: a plain copy (no axes, noop), the global pool, one [outer, mid,
// inner] reduce, or a gather over precomputed offsets for any other set of axes.
struct ReduceParams {
  enum class Form { kCopy, kGlobalAvgPool, kReduce, kGather } form = Form::kReduce;
  kernels::ReduceOp kind = kernels::ReduceOp::kMean;
  std::string kernel;
  int64_t n = 0;  // kCopy: elements
  int64_t outer = 1, mid = 1, inner = 1;
  std::vector<int64_t> bases, offsets;  // kGather
};
std::optional<ReduceParams> reduce_params(const graph::Graph& g, const graph::Op& op);

// GlobalAveragePool / GlobalMaxPool over `planes` contiguous runs of `hw` values.
struct GlobalPoolParams {
  bool max = false;
  int64_t n = 0, c = 0, hw = 0;
};
std::optional<GlobalPoolParams> global_pool_params(const graph::Graph& g, const graph::Op& op);

// Pad with constant pads and value.
std::optional<kernels::PadShape> pad_params(const graph::Graph& g, const graph::Op& op);

// LayerNormalization over the trailing dims from `axis`; scale and bias are constants of `width`
// values in the graph (bias may be null).
struct LayerNormParams {
  int64_t rows = 0, width = 0;
  const graph::Tensor* scale = nullptr;
  const graph::Tensor* bias = nullptr;
  float epsilon = 1e-5f;
};
std::optional<LayerNormParams> layer_norm_params(const graph::Graph& g, const graph::Op& op);

// MatMul with batch dims (broadcast as numpy does): one GEMM per batch item at these offsets.
struct BatchedMatMulParams {
  int64_t m = 0, n = 0, k = 0;
  std::vector<int64_t> a_offsets, b_offsets;  // per batch item, elements
};
std::optional<BatchedMatMulParams> batched_matmul_params(const graph::Graph& g, const graph::Op& op);

// Resize / Upsample: nearest by integer factors, or bilinear with the op's own scales.
struct ResizeParams {
  bool linear = false;
  int64_t n = 0, c = 0, h = 0, w = 0, out_h = 0, out_w = 0;
  kernels::LinearTaps ty, tx;  // linear only
};
std::optional<ResizeParams> resize_params(const graph::Graph& g, const graph::Op& op);

// Where with a constant condition: the mask as bytes, the two value shapes.
struct WhereParams {
  graph::Shape cond_shape, a, b;
  std::vector<uint8_t> mask;
};
std::optional<WhereParams> where_params(const graph::Graph& g, const graph::Op& op);

// `in`/`out`: buffer index per op input/output, -1 for constants (read from `g`, which must outlive
// the closure) and absent optionals.
LoweredOp lower_memory_op(const graph::Graph& g, const graph::Op& op, const std::vector<int>& in,
                          const std::vector<int>& out, BufferAddress address);

// The op types with a native kernel (for their common forms; other forms, e.g. a Pad whose pads are
// computed at run time, still take the reference path), sorted; keyed by the op registry's names.
std::vector<std::string> native_op_types();

}  // namespace hilsim::runtime
