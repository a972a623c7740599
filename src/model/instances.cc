#include "hilsim/model/instances.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/op_registry.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/layout_ops.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/op_lowering.h"
#include "hilsim/runtime/sparse_select.h"
#include "hilsim/util/error.h"

namespace hilsim::model {

std::string conv_class(const kernels::ConvShape& s, const std::string& format, int bf, int bc, int entries) {
  // The runtime's kernel choice (runtime::conv_family) through kernel_names.h's one table, without
  // building the kernel's name (this runs for every layer of every query).
  runtime::LayerSparsity ls;
  if (!format.empty() && format != "dense") {
    bool known = false;
    for (auto f : {runtime::Format::kBlock, runtime::Format::kBlockCol, runtime::Format::kPattern, runtime::Format::kCsr})
      if (format == runtime::format_name(f)) ls.format = f, known = true;
    if (!known) throw Error("format '" + format + "'", "unknown storage format (dense, block, block_col, pattern, csr)");
    ls.bf = bf, ls.bc = bc, ls.entries = entries;
  }
  const runtime::ConvFamily family = runtime::conv_family(s, ls);
  if (family == runtime::ConvFamily::kDense && kernels::dense_conv_gemm_rows(s) > 0) return "gemm";
  return conv_kernel_class(family, s.kh, s.kw,
                           family == runtime::ConvFamily::kSparse ? runtime::sparse_format_of(ls).row_height() : 1);
}

std::string memory_class(const std::string& type) {
  const graph::OpSpec* spec = graph::find_op_spec(type);
  return spec ? spec->cost_class : "elementwise";
}

int64_t concat_outer(const graph::Graph& g, const graph::Op& op) {
  if (op.outputs.empty()) return 1;
  const graph::TensorInfo* t = g.tensor_info(op.outputs[0]);
  if (!t || !t->known || t->shape.empty()) return 1;
  const int64_t rank = static_cast<int64_t>(t->shape.size());
  int64_t axis = op.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  for (int64_t d = 0; d < std::clamp<int64_t>(axis, 0, rank); ++d) outer *= std::max<int64_t>(1, t->shape[static_cast<size_t>(d)]);
  return outer;
}

namespace {
// Along one dimension, the (output position, kernel tap) pairs that read inside the input.
int64_t in_bounds_taps(int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t dil, int64_t in) {
  int64_t n = 0;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t t = 0, i = o * stride - pad; t < k; ++t, i += dil) n += i >= 0 && i < in;
  return n;
}
}  // namespace

OpInstance conv_op_instance(const kernels::ConvShape& cs, bool bias, graph::Activation act,
                            const runtime::LayerSparsity& ls0, int threads, bool strict, const std::string& op_name,
                            bool gpu_unit) {
  OpInstance r;
  runtime::LayerSparsity ls = ls0;
  const std::string problem = runtime::format_problem(cs, ls);
  if (!problem.empty()) {
    if (strict) throw Error("op '" + op_name + "'", problem);
    ls = runtime::LayerSparsity{};
  }
  r.format = runtime::format_name(ls.format);
  const auto fp = conv_footprint(cs, r.format, ls.ratio, ls.bf, ls.bc, ls.entries, bias);
  std::string klass = conv_class(cs, r.format, ls.bf, ls.bc, ls.entries);
  // The OpenCL lowering keeps a 1x1 conv on a 1x1 map a conv: its dense kernel, or its format's rows.
  if (klass == "gemm" && gpu_unit)
    klass = ls.format == runtime::Format::kDense
                ? conv_kernel_class(runtime::ConvFamily::kDense, 1, 1, 1)
                : conv_kernel_class(runtime::ConvFamily::kSparse, 1, 1, runtime::sparse_format_of(ls).row_height());
  if (klass == "gemm") {
    // The images (1x1 map) or pixels are the GEMM's rows, zeros and all.
    r.k = conv_gemm_instance(cs, threads, bias);
  } else {
    r.k = conv_instance(klass, cs, threads, fp.executed_macs, fp.weight_bytes);
    if (gpu_unit && klass.rfind("depthwise_conv", 0) == 0)
      r.k.cl_window_macs = cs.n * cs.f * (cs.c / cs.groups) *
                           in_bounds_taps(cs.out_h(), cs.kh, cs.stride_h, cs.pad_top, cs.dil_h, cs.h) *
                           in_bounds_taps(cs.out_w(), cs.kw, cs.stride_w, cs.pad_left, cs.dil_w, cs.w);
  }
  if (act == graph::Activation::kSiLU || act == graph::Activation::kSigmoid || act == graph::Activation::kHardSwish)
    r.k.act_bytes = r.k.out_bytes;
  r.dense_macs = cs.macs();
  return r;
}

OpInstance op_instance(const graph::Graph& g, graph::OpId id, const runtime::LayerSparsity& ls0, int threads,
                       bool strict, bool gpu_unit) {
  const graph::Op& op = g.op(id);
  OpInstance r;
  runtime::LayerSparsity ls = ls0;
  auto tensor_bytes = [&](const std::string& t) -> int64_t {
    const graph::TensorInfo* ti = g.tensor_info(t);
    return ti && ti->known ? std::max<int64_t>(0, graph::numel(ti->shape)) * graph::dtype_size(ti->dtype) : 0;
  };
  if (op.type == "Conv" && op.inputs.size() >= 2 && g.is_constant(op.inputs[1]))
    return conv_op_instance(runtime::conv_shape_of(g, op), op.input(2).has_value(), op.fused.kind, ls, threads, strict,
                            op.name, gpu_unit);
  if (strict && ls.format != runtime::Format::kDense)
    throw Error("op '" + op.name + "'", "a " + op.type + " op cannot take a sparse format");
  if ((op.type == "Gemm" || op.type == "MatMul") && op.inputs.size() >= 2 && g.is_constant(op.inputs[1]) &&
      g.shape(op.inputs[1]).size() == 2) {
    const graph::Shape& b = g.shape(op.inputs[1]);
    const bool tb = op.type == "Gemm" && op.attr_int("transB", 0) != 0;
    const int64_t n = tb ? b[0] : b[1], k = tb ? b[1] : b[0];
    const int64_t m = graph::numel(g.shape(op.inputs[0])) / std::max<int64_t>(1, k);
    r.k = gemm_instance(m, n, k, threads, op.type == "Gemm" && op.input(2).has_value());
    r.dense_macs = m * n * k;
    return r;
  }
  int64_t in = 0, out = 0, w = 0, n_in = 0;
  for (const auto& t : op.inputs)
    if (!t.empty()) (g.is_constant(t) ? w : in) += tensor_bytes(t), ++n_in;
  for (const auto& t : op.outputs)
    if (!t.empty()) out += tensor_bytes(t);
  const graph::OpSpec* spec = graph::find_op_spec(op.type);
  r.k = memory_instance(memory_class(op.type), in, out, threads);
  r.k.weight_bytes = w;
  // A multi-pass kernel's extra sweeps; its elements and math stay one per output.
  if (spec) r.k.resweep_bytes = in * (spec->input_reads - 1) + out * (spec->output_writes - 1);
  if (spec && spec->math_per_element) r.k.act_bytes = out;
  if (r.k.klass == "concat") {
    r.k.inputs = r.k.launches = n_in;  // OpenCL copies each input with a launch of its own
    r.k.extra_runs = n_in * (concat_outer(g, op) - 1);
  }
  if (auto ps = runtime::pool2d_shape_of(g, op)) {
    const kernels::PoolWork pw = kernels::pool2d_work(*ps);
    r.k.window_ops = pw.ops, r.k.strided_window_ops = pw.strided_ops, r.k.rows = pw.rows;
  } else if (r.k.klass == "pool") {
    r.k.window_ops = in / 4;  // global pools and reductions read each input element once
    r.k.rows = out / 4;       // one loop per output
  } else if (r.k.klass == "resize" && !op.outputs.empty()) {
    const graph::TensorInfo* t = g.tensor_info(op.outputs[0]);
    // One loop (or one row copy) per output row of every plane.
    if (t && t->known && t->shape.size() == 4) r.k.rows = t->shape[0] * t->shape[1] * t->shape[2];
  } else if (r.k.klass == "copy") {
    // Transpose, Slice, Split, Expand, Gather: a loop per row piece or transpose tile, as the kernel
    // starts them (kernels::strided_copy_loops); Reshape and Flatten are one memcpy.
    if (const auto cp = runtime::copy_params(g, op))
      for (const auto& c : cp->copies) r.k.rows += kernels::strided_copy_loops(c);
  }
  r.dense_macs = analysis::analyze_op(g, id).macs;
  return r;
}

int64_t graph_weight_bytes(const graph::Graph& g) {
  std::unordered_set<std::string> seen;
  int64_t bytes = 0;
  for (graph::OpId id = 0; id < g.num_ops(); ++id)
    for (const auto& in : g.op(id).inputs) {
      if (in.empty() || !g.is_constant(in) || !seen.insert(in).second) continue;
      const graph::TensorInfo* t = g.tensor_info(in);
      if (t && t->known) bytes += std::max<int64_t>(0, graph::numel(t->shape)) * graph::dtype_size(t->dtype);
    }
  return bytes;
}

int64_t graph_reuse_bytes(const graph::Graph& g) {
  return graph_weight_bytes(g) + analysis::peak_activation_bytes(g, g.topological_order());
}

std::string op_group(const graph::Graph& g, graph::OpId id, const KernelInstance& k) {
  const graph::Op& op = g.op(id);
  if (op.type == "Conv" && op.inputs.size() >= 2 && g.is_constant(op.inputs[1])) {
    const kernels::ConvShape s = runtime::conv_shape_of(g, op);
    if (s.groups > 1 && !s.is_depthwise()) return "grouped conv";
    if (s.kh == 1 && s.kw == 1 && s.h == 1 && s.w == 1) return "1x1 on 1x1 map";
    return "";
  }
  if (k.klass == "gemm") return k.weight_bytes > kNearWeightBytes ? "far gemm" : "";
  if (k.klass == "pool" && op.type != "MaxPool" && op.type != "AveragePool") return "global pool";
  if (k.klass == "concat" && k.inputs > 4) return "many-input concat";
  if (op.type == "BatchNormalization") return "standalone batchnorm";  // one the passes could not fold
  if (k.klass == "elementwise" && act_far_bytes(k) > 0) return "far elementwise";
  return "";
}

}  // namespace hilsim::model
