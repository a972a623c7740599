// `hilsim zoo`: the built-in reference models, listed or written as ONNX for other tools.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/util/error.h"

DEFINE_string(out, "", "output: a directory for `zoo`, a profile for `calibrate`/`fit`, a plan or directory for `plan`/`emit`, the HTML page for `report`");
DEFINE_bool(list, false, "list the models with their size");

namespace hilsim::cli {
namespace {

int run_zoo(const std::vector<std::string>& args) {
  std::vector<std::string> names = args.empty() ? graph::zoo_names() : args;
  if (FLAGS_out.empty() && !FLAGS_list) FLAGS_list = true;
  nlohmann::json j = nlohmann::json::array();
  if (!FLAGS_out.empty()) std::filesystem::create_directories(FLAGS_out);
  for (const auto& n : names) {
    const std::string spec = graph::is_zoo_spec(n) ? n : "zoo:" + n;
    graph::Graph g = graph::load_model(spec);
    const analysis::ModelFacts m = analysis::analyze(g);
    std::string path;
    if (!FLAGS_out.empty()) {
      path = (std::filesystem::path(FLAGS_out) / (g.name + ".onnx")).string();
      graph::export_onnx(g, path);
    }
    j.push_back({{"name", g.name}, {"input", g.shape(g.inputs()[0])}, {"macs", m.macs}, {"params", m.params},
                 {"ops", m.ops.size()}, {"path", path}});
    if (!FLAGS_json)
      std::printf("%-18s input %-16s %10s MACs %10s params %4zu ops%s%s\n", g.name.c_str(),
                  graph::shape_str(g.shape(g.inputs()[0])).c_str(), human_count(static_cast<double>(m.macs)).c_str(),
                  human_count(static_cast<double>(m.params)).c_str(), m.ops.size(), path.empty() ? "" : "  -> ",
                  path.c_str());
  }
  if (FLAGS_json) print_json({{"models", j}});
  return kExitOk;
}

const Register reg({"zoo", "list the built-in reference models or write them as ONNX",
                    "hilsim zoo [--list] [--out DIR] [--json] [NAME[@RES][xWIDTH] ...]\n\n"
                    "The built-in models (random weights from a fixed seed, BN statistics non-trivial):\n" +
                        zoo_name_list() +
                        ".\nyolov5s_like's default input is 320, the others' 224; mobileone_s0 comes in its train-time\n"
                        "form with its branches. --out writes NAME.onnx files that pass the ONNX checker.",
                    {"out", "list", "json"}, run_zoo});

}  // namespace
}  // namespace hilsim::cli
