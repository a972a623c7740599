// The settings bench-predictor measures each zoo model in, shared with compare-profiles so that a
// profile's repeatability is judged on the configurations its accuracy is.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/graph.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/runtime/units.h"

namespace hilsim::cli {

struct BenchConfig {
  std::string name;
  runtime::SparsitySpec spec;
  std::vector<runtime::UnitDef> units;  // two-unit splits
};

// Dense; uniform block 8x4 at 0.5/0.7/0.9, 16x8 at 0.8, pattern 2EP/3EP, CSR at 0.9; three random
// per-layer mixes drawn from `rng`; two-unit branch splits dense and at block 8x4 0.7. Only formats
// each conv can take are set (checked with `pred`).
std::vector<BenchConfig> zoo_bench_configs(const graph::Graph& g, costmodel::Predictor& pred, std::mt19937& rng);

// A model of a bench suite: its name and the spec graph::load_model reads.
struct SuiteModel {
  std::string name, spec;
};
// The models a real-model suite directory lists in index.txt (NAME H W ELEMENTS per line, NAME.onnx
// beside it), as tests/models/real_models.py DIR --suite bench writes them; throws hilsim::Error naming
// the directory or the file that is missing.
std::vector<SuiteModel> suite_models(const std::string& dir);
// The zoo models the benchmarks measure (spec "zoo:NAME").
std::vector<SuiteModel> zoo_bench_models();

// One unit alone (bench-predictor --units, e.g. the OpenCL device): dense and uniform block 8x4 at 0.7,
// the settings the gpu unit's accuracy goal names (a unit slower than the CPU kernels runs few).
std::vector<BenchConfig> unit_bench_configs();

// The real-model suite's settings (fewer: its models are larger): dense; uniform block 8x4 at 0.5 and
// 0.7; pattern 2EP; three random per-layer mixes.
std::vector<BenchConfig> real_model_bench_configs(costmodel::Predictor& pred, std::mt19937& rng);

}  // namespace hilsim::cli
