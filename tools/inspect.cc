// `hilsim inspect MODEL`: what the model is, op by op — shapes, exact MACs, parameters, bytes moved,
// arithmetic intensity, peak activation memory — and, on request, its coupled-channel groups.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/passes/coupled_groups.h"
#include "hilsim/util/error.h"

DEFINE_bool(groups, false, "list the coupled-channel groups (layers that must share a pruning decision)");
DEFINE_bool(ops, false, "list the ONNX op types hilsim supports and exit");
DEFINE_bool(passes, false, "show the model after the canonical passes (re-parameterise, fold BN, fuse activations)");
DEFINE_string(export_onnx, "", "write the (possibly transformed) model to this ONNX file");

namespace hilsim::cli {
namespace {

int run_inspect(const std::vector<std::string>& args) {
  if (FLAGS_ops) {
    if (FLAGS_json) print_json({{"op_types", graph::supported_op_types()}});
    else
      for (const auto& t : graph::supported_op_types()) std::cout << t << "\n";
    return kExitOk;
  }
  const std::string& model_spec = model_arg(args, "inspect");
  graph::Graph g = load_model_from_flags(model_spec);
  nlohmann::json passes = nlohmann::json::object();
  if (FLAGS_passes) {
    const graph::passes::CanonicalStats st = graph::passes::canonicalize(g);
    passes = {{"reparameterized_adds", st.reparameterized_adds}, {"folded_batchnorms", st.folded_batchnorms},
              {"fused_activations", st.fused_activations},       {"folded_pads", st.folded_pads},
              {"fused_gelus", st.fused_gelus},                   {"fused_layer_norms", st.fused_layer_norms}};
  }
  const analysis::ModelFacts m = analysis::analyze(g);
  std::vector<graph::passes::CoupledGroup> groups;
  if (FLAGS_groups) groups = graph::passes::find_coupled_groups(g);
  if (!FLAGS_export_onnx.empty()) graph::export_onnx(g, FLAGS_export_onnx);

  if (FLAGS_json) {
    nlohmann::json j;
    j["model"] = model_spec;
    j["name"] = g.name;
    j["opset"] = g.opset;
    nlohmann::json ops = nlohmann::json::array();
    for (size_t i = 0; i < m.ops.size(); ++i) {
      const auto& f = m.ops[i];
      const graph::Op& op = g.op(*g.find_op(f.name));
      ops.push_back({{"name", f.name}, {"type", f.type}, {"out_shape", f.out_shape}, {"macs", f.macs},
                     {"params", f.params}, {"bytes_read", f.bytes_read}, {"bytes_written", f.bytes_written},
                     {"intensity", f.intensity}, {"unknown", f.unknown},
                     {"fused", graph::activation_name(op.fused.kind)}});
    }
    j["ops"] = ops;
    j["total"] = {{"ops", m.ops.size()}, {"macs", m.macs}, {"params", m.params}, {"bytes", m.bytes},
                  {"peak_activation_bytes", m.peak_activation_bytes}};
    if (FLAGS_passes) j["passes"] = passes;
    if (FLAGS_groups) {
      nlohmann::json gs = nlohmann::json::array();
      for (const auto& cg : groups)
        gs.push_back({{"id", cg.id}, {"convs", cg.convs}, {"children", cg.children}, {"reason", cg.reason}});
      j["groups"] = gs;
    }
    print_json(j);
    return kExitOk;
  }
  std::printf("%s (opset %lld): %zu ops, %s MACs, %s params, %s moved, peak activations %s\n", g.name.c_str(),
              static_cast<long long>(g.opset), m.ops.size(), human_count(static_cast<double>(m.macs)).c_str(),
              human_count(static_cast<double>(m.params)).c_str(), human_bytes(static_cast<double>(m.bytes)).c_str(),
              human_bytes(static_cast<double>(m.peak_activation_bytes)).c_str());
  if (FLAGS_passes)
    std::printf("passes: %d adds re-parameterised, %d batchnorms folded, %d pads folded, %d GELUs and %d layer norms "
                "fused, %d activations fused\n",
                passes["reparameterized_adds"].get<int>(), passes["folded_batchnorms"].get<int>(),
                passes["folded_pads"].get<int>(), passes["fused_gelus"].get<int>(),
                passes["fused_layer_norms"].get<int>(), passes["fused_activations"].get<int>());
  std::printf("\n%-34s %-18s %-18s %10s %10s %10s %7s\n", "name", "type", "output", "MACs", "params", "bytes", "AI");
  for (const auto& f : m.ops) {
    const graph::Op& op = g.op(*g.find_op(f.name));
    std::string type = f.type;
    if (op.fused.kind != graph::Activation::kNone) type += "+" + std::string(graph::activation_name(op.fused.kind));
    if (f.unknown) type += " (unknown)";
    std::printf("%-34s %-18s %-18s %10s %10s %10s %7.1f\n", f.name.substr(0, 34).c_str(), type.substr(0, 18).c_str(),
                graph::shape_str(f.out_shape).c_str(), human_count(static_cast<double>(f.macs)).c_str(),
                human_count(static_cast<double>(f.params)).c_str(),
                human_bytes(static_cast<double>(f.bytes_read + f.bytes_written)).c_str(), f.intensity);
  }
  if (FLAGS_groups) {
    std::printf("\ncoupled-channel groups (%zu): a channel/pattern pruning decision must be shared\n", groups.size());
    for (const auto& cg : groups) {
      std::printf("  group %d via %s\n    parents:", cg.id, cg.reason.c_str());
      for (const auto& c : cg.convs) std::printf(" %s", c.c_str());
      std::printf("\n    children:");
      for (const auto& c : cg.children) std::printf(" %s", c.c_str());
      std::printf("\n");
    }
  }
  return kExitOk;
}

const Register reg({"inspect", "what a model is: shapes, exact MACs, params, bytes, peak memory, coupled groups",
                    "hilsim inspect MODEL [--json] [--groups] [--passes] [--export-onnx FILE] [--input-shape S]\n"
                    "       hilsim inspect --ops\n\n"
                    "MODEL is an .onnx file (opset 11-17) or a built-in model zoo:NAME[@RES][xWIDTH], NAME one of\n" +
                        zoo_name_list() + ".\n"
                    "Per op: output shape, exact MACs (conv: output elements x Cin/groups x kh x kw), parameters,\n"
                    "fp32 bytes read + written and arithmetic intensity (FLOPs per byte); totals and the peak\n"
                    "activation memory of the topological order with tensors freed after their last use.",
                    {"json", "groups", "ops", "passes", "export_onnx", "input_shape", "allow_unknown"},
                    run_inspect});

}  // namespace
}  // namespace hilsim::cli
