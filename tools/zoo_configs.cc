#include "zoo_configs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hilsim/partition/planner.h"
#include "hilsim/runtime/run_config.h"
#include "hilsim/util/error.h"

namespace hilsim::cli {

namespace {

// Three configurations with random per-layer formats and ratios.
void add_random_mixes(costmodel::Predictor& pred, std::mt19937& rng, std::vector<BenchConfig>* out) {
  std::vector<BenchConfig>& cfgs = *out;
  auto prunable = pred.prunable_ops();
  for (int r = 0; r < 3; ++r) {
    BenchConfig c;
    c.name = "random" + std::to_string(r);
    std::uniform_real_distribution<double> u(0, 1);
    for (const auto& [op, macs] : prunable) {
      (void)macs;
      const double x = u(rng);
      runtime::LayerSparsity ls;
      if (x < 0.25) continue;
      if (x < 0.7) {
        const int bfs[4] = {4, 8, 16, 32};
        ls = runtime::parse_layer_spec("block:" + std::to_string(bfs[static_cast<int>(u(rng) * 4)]) + "x4@" +
                                       std::to_string(0.3 + 0.65 * u(rng)));
      } else {
        ls = runtime::parse_layer_spec("pattern:" + std::to_string(u(rng) < 0.5 ? 2 : 3));
      }
      c.spec.layers[op] = ls;
    }
    // Only formats each conv can take (a uniform spec would skip the others; explicit ones are errors).
    for (auto it = c.spec.layers.begin(); it != c.spec.layers.end();) {
      try {
        pred.predict_op(it->first, it->second, true);
        ++it;
      } catch (const Error&) {
        it = c.spec.layers.erase(it);
      }
    }
    cfgs.push_back(c);
  }
}

}  // namespace

std::vector<BenchConfig> zoo_bench_configs(const graph::Graph& g, costmodel::Predictor& pred, std::mt19937& rng) {
  std::vector<BenchConfig> cfgs;
  cfgs.push_back({"dense", {}, {}});
  for (const char* s : {"block:8x4@0.5", "block:8x4@0.7", "block:8x4@0.9", "pattern:2", "pattern:3", "block:16x8@0.8",
                        "csr@0.9"})
    cfgs.push_back({s, runtime::parse_sparsity_spec(s), {}});
  add_random_mixes(pred, rng, &cfgs);
  const auto prunable = pred.prunable_ops();
  // Two-unit branch splits (dense and pruned).
  for (const char* base : {"", "block:8x4@0.7"}) {
    BenchConfig c;
    c.name = std::string("split") + (base[0] ? "+" + std::string(base) : "");
    c.units = runtime::parse_units("cpu0:0,cpu1:1");
    const auto assign = partition::split_branches(pred, base[0] ? runtime::parse_sparsity_spec(base) : runtime::SparsitySpec{},
                                                  {"cpu0", "cpu1"});
    for (const auto& [op, unit] : assign) {
      runtime::LayerSparsity ls;
      ls.unit = unit;
      c.spec.layers[op] = ls;
    }
    if (base[0]) {
      // Keep the uniform format on convs that take it, as the executor would.
      const auto uni = runtime::parse_layer_spec(base);
      for (const auto& [op, macs] : prunable) {
        (void)macs;
        runtime::LayerSparsity ls = uni;
        ls.unit = c.spec.layers.count(op) ? c.spec.layers[op].unit : "";
        try {
          pred.predict_op(op, ls, true);
          c.spec.layers[op] = ls;
        } catch (const Error&) {
        }
      }
    }
    cfgs.push_back(c);
  }
  return cfgs;
}

std::vector<BenchConfig> unit_bench_configs() {
  std::vector<BenchConfig> cfgs;
  cfgs.push_back({"dense", {}, {}});
  cfgs.push_back({"block:8x4@0.7", runtime::parse_sparsity_spec("block:8x4@0.7"), {}});
  return cfgs;
}

std::vector<BenchConfig> real_model_bench_configs(costmodel::Predictor& pred, std::mt19937& rng) {
  std::vector<BenchConfig> cfgs;
  cfgs.push_back({"dense", {}, {}});
  for (const char* s : {"block:8x4@0.5", "block:8x4@0.7", "pattern:2"})
    cfgs.push_back({s, runtime::parse_sparsity_spec(s), {}});
  add_random_mixes(pred, rng, &cfgs);
  return cfgs;
}

std::vector<SuiteModel> suite_models(const std::string& dir) {
  const std::string index = dir + "/index.txt";
  std::ifstream f(index);
  if (!f) throw Error("--suite", "'" + dir + "' is neither 'zoo' nor a directory holding index.txt (make one with "
                                 "tests/models/real_models.py DIR --suite bench)");
  std::vector<SuiteModel> r;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string name;
    if (!(ls >> name)) continue;
    const std::string path = dir + "/" + name + ".onnx";
    if (!std::filesystem::is_regular_file(path)) throw Error(index, "lists '" + name + "' but " + path + " is missing");
    r.push_back({name, path});
  }
  if (r.empty()) throw Error(index, "lists no models");
  return r;
}

std::vector<SuiteModel> zoo_bench_models() {
  std::vector<SuiteModel> r;
  for (const char* m : {"yolov5s_like", "resnet18_like", "mobilenetv2_like", "mobileone_s0", "vgg_like"})
    r.push_back({m, std::string("zoo:") + m});
  return r;
}

}  // namespace hilsim::cli
