// Kernel instances of convolutions and GEMMs in one place, so that the calibration runner (which
// times a real prepared kernel) and the cost model (which predicts one from a layer's shape and
// format) describe the same instance with the same features.
#pragma once

#include <cstdint>
#include <string>

#include "hilsim/model/kernel_features.h"
#include "hilsim/graph/graph.h"
#include "hilsim/kernels/conv_desc.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::model {

// The class of a conv in a storage format (kernel_class_of the kernel that runs it). Dense: dense_conv1x1/3x3/5x5/kxk, depthwise_conv3x3/5x5,
// gemm for a 1x1 conv on a 1x1 map (kernels::dense_conv_runs_as_gemm).
// Sparse formats all run one engine whose speed depends on its row height (filters per packed row):
// sparse_fb1 (pattern, CSR, 1-filter blocks) ... sparse_fb16 (blocks of 16 or 32 filters); what the
// format changes is captured by the features (kept MACs, storage bytes).
std::string conv_class(const kernels::ConvShape& s, const std::string& format, int bf = 8, int bc = 4, int entries = 2);

// The class of a memory-bound op: pool|elementwise|concat|resize|copy.
std::string memory_class(const std::string& op_type);

// A Concat's outer extent: the product of its output's dims before the axis (1 for a channel concat at
// batch 1); the kernel copies outer x inputs contiguous runs.
int64_t concat_outer(const graph::Graph& g, const graph::Op& op);

// The kernel instance the runtime runs for op `id` of a canonical graph in setting `ls` (formats a conv
// cannot take fall back to dense unless `strict`, which throws naming the op). Calibration and the
// cost model both describe ops through this one function.
struct OpInstance {
  KernelInstance k;
  std::string format = "dense";
  int64_t dense_macs = 0;
};
// A conv op from its shape (what op_instance does for a Conv, without touching the graph): the cost
// model keeps each conv's shape and calls this for every setting a search tries. A format the conv
// cannot take is an error naming `op_name` when `strict`, else the conv stays dense (as it runs).
// `gpu_unit`: the instance the OpenCL lowering runs (a 1x1 conv on a 1x1 map stays a conv there, while
// the CPU runs it as a GEMM: kernels::dense_conv_runs_as_gemm).
OpInstance conv_op_instance(const kernels::ConvShape& cs, bool bias, graph::Activation act,
                            const runtime::LayerSparsity& ls, int threads, bool strict, const std::string& op_name,
                            bool gpu_unit = false);
OpInstance op_instance(const graph::Graph& g, graph::OpId id, const runtime::LayerSparsity& ls, int threads,
                       bool strict, bool gpu_unit = false);

// The bytes of a graph's constant inputs (its weights, each tensor once, dense as stored in the graph):
// what a run reads between two uses of any one layer's weights (model::place_operands). Dense even for a
// pruned setting, so that one layer's format never changes another's price (the cost model's
// incremental queries re-price only the layers that changed).
int64_t graph_weight_bytes(const graph::Graph& g);
// What a run touches between two uses of one layer's weights: the weights and the peak of the live
// activations (analysis::peak_activation_bytes).
int64_t graph_reuse_bytes(const graph::Graph& g);

// The layer kinds real networks have that one class's fit can get wrong together (each has run
// 15-60% off its class before): "grouped conv", "1x1 on 1x1 map", "far gemm" (weights beyond a
// core's L2 share), "global pool", "far elementwise" (tensors beyond L2), "many-input concat" (more
// than 4 inputs: DenseNet blocks), "standalone batchnorm" (none to fold into); "" for any other op.
// Accuracy reports list them beside the classes, so a class's median cannot hide them.
std::string op_group(const graph::Graph& g, graph::OpId id, const KernelInstance& k);

}  // namespace hilsim::model
