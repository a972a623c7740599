// Query speed of the cost model, the figure a pruning search loop cares about: a full prediction of a
// ResNet-50-size graph (resnet50_like, 53 convs) in which every layer's setting is new, and a
// re-prediction after one layer changes. Settings are built before the timed loop, so what is timed is
// the predictor, not the parsing of specs.
//
//   ./build/predictor_bench [--benchmark_filter=...]   (profile: HILSIM_PROFILE or the bundled one)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/model_source.h"

namespace {

using hilsim::costmodel::Predictor;
using hilsim::runtime::LayerSparsity;
using hilsim::runtime::SparsitySpec;

std::string profile_path() {
  const char* p = std::getenv("HILSIM_PROFILE");
  return p ? p : "device_profiles/x86_avx512_2core.json";
}

Predictor make_predictor() {
  const hilsim::graph::Graph g = hilsim::graph::load_model("zoo:resnet50_like");
  return Predictor(g, hilsim::model::load_profile(profile_path()), {1, "cpu0"});
}

LayerSparsity block(int bf, double ratio) {
  LayerSparsity ls;
  ls.format = hilsim::runtime::Format::kBlock;
  ls.bf = bf;
  ls.bc = 4;
  ls.ratio = ratio;
  return ls;
}

// Every prunable conv in block 8x4 at `ratio`: the configs the queries below start from.
SparsitySpec every_layer(const Predictor& p, double ratio) {
  SparsitySpec s;
  for (const auto& [op, macs] : p.prunable_ops()) s.layers[op] = block(8, ratio);
  return s;
}

// Every conv gets a ratio no earlier query used, so no per-op result can come from the cache.
void BM_FullPrediction(benchmark::State& st) {
  Predictor p = make_predictor();
  SparsitySpec s = every_layer(p, 0.5);
  p.estimate(s);
  double r = 0.3;
  for (auto _ : st) {
    r += 1e-7;
    for (auto& [op, ls] : s.layers) ls.ratio = r;
    benchmark::DoNotOptimize(p.estimate(s).ms);
  }
  st.counters["convs"] = static_cast<double>(s.layers.size());
}
BENCHMARK(BM_FullPrediction)->Unit(benchmark::kMicrosecond);

// One layer's ratio changes per query (a greedy or evolutionary search step).
void BM_OneLayerChanged(benchmark::State& st) {
  Predictor p = make_predictor();
  SparsitySpec s = every_layer(p, 0.5);
  p.estimate(s);
  std::vector<LayerSparsity*> slots;
  for (auto& [op, ls] : s.layers) slots.push_back(&ls);
  size_t i = 0;
  double r = 0.5;
  for (auto _ : st) {
    r += 1e-7;
    slots[i++ % slots.size()]->ratio = r;
    benchmark::DoNotOptimize(p.estimate(s).ms);
  }
}
BENCHMARK(BM_OneLayerChanged)->Unit(benchmark::kMicrosecond);

// The same two queries through predict(), which also returns the per-op table.
void BM_FullPredictionWithTable(benchmark::State& st) {
  Predictor p = make_predictor();
  SparsitySpec s = every_layer(p, 0.5);
  double r = 0.3;
  for (auto _ : st) {
    r += 1e-7;
    for (auto& [op, ls] : s.layers) ls.ratio = r;
    benchmark::DoNotOptimize(p.predict(s).ms);
  }
}
BENCHMARK(BM_FullPredictionWithTable)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
