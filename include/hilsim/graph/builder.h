// A small fluent builder of IR graphs with random weights from a seed: the zoo models and the tests'
// hand-made graphs are written with it. Each method adds one ONNX-style op, infers its output shape at
// once (so the next conv knows its input channels) and returns the name of its output tensor.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::graph {

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name, uint64_t seed = 1);

  std::string input(const std::string& name, Shape shape);
  void output(const std::string& tensor);

  // Conv with He-scaled random weights. pad defaults to dilation*(k-1)/2 ("same" for odd k).
  std::string conv(const std::string& x, int64_t out_ch, int64_t k, int64_t stride = 1, int64_t groups = 1,
                   bool bias = true, std::optional<int64_t> pad = std::nullopt, int64_t dilation = 1,
                   const std::string& name = "");
  // Rectangular kernel variant.
  std::string conv2(const std::string& x, int64_t out_ch, int64_t kh, int64_t kw, int64_t stride, int64_t groups,
                    bool bias, int64_t pad_h, int64_t pad_w, const std::string& name = "", int64_t dilation = 1);
  // BatchNormalization with non-trivial random scale/bias/mean/var so folding is really exercised.
  std::string batchnorm(const std::string& x, const std::string& name = "");
  std::string conv_bn(const std::string& x, int64_t out_ch, int64_t k, int64_t stride = 1, int64_t groups = 1,
                      const std::string& name = "");

  std::string relu(const std::string& x);
  std::string clip(const std::string& x, float lo, float hi);  // opset-13 form: min/max as inputs
  std::string sigmoid(const std::string& x);
  std::string silu(const std::string& x);  // Sigmoid then Mul, as torch exports it
  std::string hardswish(const std::string& x);
  std::string hardsigmoid(const std::string& x, float alpha = 0.2f, float beta = 0.5f);

  std::string add(const std::string& a, const std::string& b);
  std::string mul(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs, int64_t axis = 1);
  std::vector<std::string> split(const std::string& x, const std::vector<int64_t>& sizes, int64_t axis = 1);

  std::string maxpool(const std::string& x, int64_t k, int64_t stride, int64_t pad);
  std::string avgpool(const std::string& x, int64_t k, int64_t stride, int64_t pad);
  std::string global_avgpool(const std::string& x);
  std::string resize_nearest(const std::string& x, float scale);
  std::string flatten(const std::string& x);
  std::string gemm(const std::string& x, int64_t out_features);  // x: [N, K]
  std::string softmax(const std::string& x, int64_t axis = -1);

  // Any op; returns its outputs. Shapes are inferred.
  std::vector<std::string> op(const std::string& type, const std::vector<std::string>& inputs,
                              std::map<std::string, AttrValue> attrs = {}, int n_outputs = 1,
                              const std::string& name = "");
  std::string constant(Tensor t);  // registers an initializer; returns its name
  std::string random_constant(const std::string& base, Shape shape, float scale);

  const Shape& shape(const std::string& tensor) const { return g_.shape(tensor); }
  Graph& graph() { return g_; }
  // Runs full shape inference once more and hands the graph over.
  Graph finish();

 private:
  std::string fresh(const std::string& base);
  Graph g_;
  std::mt19937_64 rng_;
  std::map<std::string, int> counters_;
};

}  // namespace hilsim::graph
