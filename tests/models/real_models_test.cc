// The real-model suite's test set (tests/models/real_models.py --suite test, run by ctest as a fixture):
// torchvision classifiers and YOLO-style detectors exported by torch.onnx.export. hilsim's importer,
// reference executor and graph executor against PyTorch's own output, and every op on a native kernel.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hilsim/graph/onnx_io.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim {
namespace {

const std::string kDir = std::string(HILSIM_BINARY_DIR) + "/real_models";

std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

struct Case {
  std::string name;
  int64_t h = 0, w = 0, out = 0;
};

std::vector<Case> cases() {
  std::vector<Case> r;
  std::ifstream f(kDir + "/index.txt");
  Case c;
  while (f >> c.name >> c.h >> c.w >> c.out) r.push_back(c);
  return r;
}

// Each test runs over every exported model, and skips, saying why, where none was exported.
class RealModels : public ::testing::Test {
 protected:
  void SetUp() override {
    all = cases();
    if (all.empty()) GTEST_SKIP() << "no exported models in " << kDir << " (needs python3-torchvision)";
  }
  static graph::Graph import(const Case& c) { return graph::import_onnx(kDir + "/" + c.name + ".onnx"); }
  std::vector<Case> all;
};

TEST_F(RealModels, ImportedModelsComputeWhatPyTorchComputes) {
  for (const Case& c : all) {
    SCOPED_TRACE(c.name);
    graph::Graph g = import(c);
    graph::Tensor x = graph::Tensor::zeros("input", {1, 3, c.h, c.w});
    x.f32 = read_floats(kDir + "/" + c.name + ".input.bin");
    ASSERT_EQ(static_cast<int64_t>(x.f32.size()), x.numel());
    graph::Tensor want = graph::Tensor::zeros("output", {1, c.out});
    want.f32 = read_floats(kDir + "/" + c.name + ".output.bin");
    runtime::TensorMap in{{g.inputs()[0], x}};

    runtime::TensorMap ref = runtime::run_reference(g, in);
    graph::Tensor got = ref.at(g.outputs()[0]);
    got.shape = want.shape;
    EXPECT_LT(runtime::max_rel_error(got, want), 1e-4) << "reference executor vs PyTorch";

    for (int threads : {1, 2}) {
      runtime::ExecOptions o;
      o.threads = threads;
      runtime::Executor ex(g, o);
      graph::Tensor y = ex.run(in).at(g.outputs()[0]);
      y.shape = want.shape;
      EXPECT_LT(runtime::max_rel_error(y, want), 1e-4) << "graph executor vs PyTorch, threads " << threads;
    }
  }
}

// `hilsim run` on a real export must never time the naive reference path: it is 10-20x slower than a
// native kernel and the cost model predicts every op as native. Dense and pruned (the sparse formats
// change which conv kernels run, and nothing else may fall back when they do).
TEST_F(RealModels, EveryOpRunsOnANativeKernel) {
  for (const Case& c : all) {
    SCOPED_TRACE(c.name);
    graph::Graph g = import(c);
    for (const char* spec : {"", "block:8x4@0.7", "pattern:2"}) {
      runtime::ExecOptions o;
      if (*spec) o.sparsity = runtime::parse_sparsity_spec(spec);
      runtime::Executor ex(g, o);
      std::string fallbacks;
      for (const auto& op : ex.ops())
        if (op.kernel == "reference") fallbacks += " " + op.name;
      EXPECT_EQ(fallbacks, "") << "ops on the reference path (" << (*spec ? spec : "dense") << "):" << fallbacks;
    }
  }
}

}  // namespace
}  // namespace hilsim
