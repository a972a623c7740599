#include "hilsim/graph/builder.h"

#include <cmath>

#include "hilsim/graph/shape_inference.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {

GraphBuilder::GraphBuilder(std::string name, uint64_t seed) : rng_(seed) {
  g_.name = std::move(name);
  g_.opset = 13;
}

std::string GraphBuilder::fresh(const std::string& base) {
  for (;;) {
    std::string n = base + "_" + std::to_string(counters_[base]++);
    if (!g_.tensor_info(n) && !g_.find_op(n)) return n;
  }
}

std::string GraphBuilder::input(const std::string& name, Shape shape) {
  g_.add_input(TensorInfo{name, DType::kFloat32, std::move(shape), true});
  return name;
}

void GraphBuilder::output(const std::string& tensor) { g_.add_output(tensor); }

std::string GraphBuilder::constant(Tensor t) {
  if (t.name.empty()) t.name = fresh("const");
  std::string n = t.name;
  g_.set_constant(std::move(t));
  return n;
}

std::string GraphBuilder::random_constant(const std::string& base, Shape shape, float scale) {
  Tensor t = Tensor::zeros(fresh(base), std::move(shape));
  std::normal_distribution<float> d(0.0f, scale);
  for (float& v : t.f32) v = d(rng_);
  return constant(std::move(t));
}

std::vector<std::string> GraphBuilder::op(const std::string& type, const std::vector<std::string>& inputs,
                                          std::map<std::string, AttrValue> attrs, int n_outputs,
                                          const std::string& name) {
  Op o;
  o.name = name.empty() ? fresh(type.empty() ? "op" : std::string(1, static_cast<char>(std::tolower(type[0]))) + type.substr(1)) : name;
  o.type = type;
  o.inputs = inputs;
  o.attrs = std::move(attrs);
  for (int i = 0; i < n_outputs; ++i) o.outputs.push_back(n_outputs == 1 ? o.name : o.name + "_out" + std::to_string(i));
  auto infos = infer_op(g_, o);
  std::vector<std::string> outs = o.outputs;
  g_.add_op(std::move(o));
  for (auto& t : infos) g_.set_tensor_info(std::move(t));
  return outs;
}

std::string GraphBuilder::conv2(const std::string& x, int64_t out_ch, int64_t kh, int64_t kw, int64_t stride,
                                int64_t groups, bool bias, int64_t pad_h, int64_t pad_w, const std::string& name,
                                int64_t dilation) {
  const int64_t cin = shape(x).at(1);
  if (cin % groups != 0 || out_ch % groups != 0) throw Error("builder", "groups do not divide channels");
  const std::string base = name.empty() ? fresh("conv") : name;
  const float he = std::sqrt(2.0f / static_cast<float>((cin / groups) * kh * kw));
  std::vector<std::string> ins{x, random_constant(base + ".weight", {out_ch, cin / groups, kh, kw}, he)};
  if (bias) ins.push_back(random_constant(base + ".bias", {out_ch}, 0.1f));
  return op("Conv", ins,
            {{"kernel_shape", std::vector<int64_t>{kh, kw}},
             {"strides", std::vector<int64_t>{stride, stride}},
             {"pads", std::vector<int64_t>{pad_h, pad_w, pad_h, pad_w}},
             {"dilations", std::vector<int64_t>{dilation, dilation}},
             {"group", groups}},
            1, base)[0];
}

std::string GraphBuilder::conv(const std::string& x, int64_t out_ch, int64_t k, int64_t stride, int64_t groups,
                               bool bias, std::optional<int64_t> pad, int64_t dilation, const std::string& name) {
  const int64_t p = pad.value_or(dilation * (k - 1) / 2);
  return conv2(x, out_ch, k, k, stride, groups, bias, p, p, name, dilation);
}

std::string GraphBuilder::batchnorm(const std::string& x, const std::string& name) {
  const int64_t c = shape(x).at(1);
  const std::string base = name.empty() ? fresh("bn") : name;
  std::uniform_real_distribution<float> u(0.5f, 1.5f), s(-0.2f, 0.2f);
  Tensor scale = Tensor::zeros(base + ".weight", {c}), b = Tensor::zeros(base + ".bias", {c}),
         mean = Tensor::zeros(base + ".running_mean", {c}), var = Tensor::zeros(base + ".running_var", {c});
  for (int64_t i = 0; i < c; ++i) {
    scale.f32[i] = u(rng_);
    b.f32[i] = s(rng_);
    mean.f32[i] = s(rng_);
    var.f32[i] = u(rng_);
  }
  std::vector<std::string> ins{x, constant(scale), constant(b), constant(mean), constant(var)};
  return op("BatchNormalization", ins, {{"epsilon", 1e-5f}}, 1, base)[0];
}

std::string GraphBuilder::conv_bn(const std::string& x, int64_t out_ch, int64_t k, int64_t stride, int64_t groups,
                                  const std::string& name) {
  const std::string c = conv(x, out_ch, k, stride, groups, false, std::nullopt, 1, name);
  return batchnorm(c, name.empty() ? "" : name + "_bn");
}

std::string GraphBuilder::relu(const std::string& x) { return op("Relu", {x})[0]; }
std::string GraphBuilder::sigmoid(const std::string& x) { return op("Sigmoid", {x})[0]; }
std::string GraphBuilder::hardswish(const std::string& x) { return op("HardSwish", {x})[0]; }
std::string GraphBuilder::hardsigmoid(const std::string& x, float alpha, float beta) {
  return op("HardSigmoid", {x}, {{"alpha", alpha}, {"beta", beta}})[0];
}
std::string GraphBuilder::clip(const std::string& x, float lo, float hi) {
  Tensor a = Tensor::zeros(fresh("clip_min"), {}), b = Tensor::zeros(fresh("clip_max"), {});
  a.f32 = {lo};
  b.f32 = {hi};
  return op("Clip", {x, constant(a), constant(b)})[0];
}
std::string GraphBuilder::silu(const std::string& x) { return mul(x, sigmoid(x)); }
std::string GraphBuilder::add(const std::string& a, const std::string& b) { return op("Add", {a, b})[0]; }
std::string GraphBuilder::mul(const std::string& a, const std::string& b) { return op("Mul", {a, b})[0]; }
std::string GraphBuilder::concat(const std::vector<std::string>& xs, int64_t axis) {
  return op("Concat", xs, {{"axis", axis}})[0];
}
std::vector<std::string> GraphBuilder::split(const std::string& x, const std::vector<int64_t>& sizes, int64_t axis) {
  const std::string s = constant(Tensor::ints(fresh("split_sizes"), sizes, {static_cast<int64_t>(sizes.size())}));
  return op("Split", {x, s}, {{"axis", axis}}, static_cast<int>(sizes.size()));
}
std::string GraphBuilder::maxpool(const std::string& x, int64_t k, int64_t stride, int64_t pad) {
  return op("MaxPool", {x},
            {{"kernel_shape", std::vector<int64_t>{k, k}},
             {"strides", std::vector<int64_t>{stride, stride}},
             {"pads", std::vector<int64_t>{pad, pad, pad, pad}}})[0];
}
std::string GraphBuilder::avgpool(const std::string& x, int64_t k, int64_t stride, int64_t pad) {
  return op("AveragePool", {x},
            {{"kernel_shape", std::vector<int64_t>{k, k}},
             {"strides", std::vector<int64_t>{stride, stride}},
             {"pads", std::vector<int64_t>{pad, pad, pad, pad}}})[0];
}
std::string GraphBuilder::global_avgpool(const std::string& x) { return op("GlobalAveragePool", {x})[0]; }
std::string GraphBuilder::resize_nearest(const std::string& x, float scale) {
  Tensor sc = Tensor::zeros(fresh("resize_scales"), {4});
  sc.f32 = {1.0f, 1.0f, scale, scale};
  return op("Resize", {x, "", constant(sc)},
            {{"mode", std::string("nearest")},
             {"coordinate_transformation_mode", std::string("asymmetric")},
             {"nearest_mode", std::string("floor")}})[0];
}
std::string GraphBuilder::flatten(const std::string& x) { return op("Flatten", {x}, {{"axis", int64_t{1}}})[0]; }
std::string GraphBuilder::gemm(const std::string& x, int64_t out_features) {
  const int64_t k = shape(x).at(1);
  const std::string base = fresh("fc");
  const std::string w = random_constant(base + ".weight", {out_features, k}, std::sqrt(1.0f / static_cast<float>(k)));
  const std::string b = random_constant(base + ".bias", {out_features}, 0.1f);
  return op("Gemm", {x, w, b}, {{"transB", int64_t{1}}}, 1, base)[0];
}
std::string GraphBuilder::softmax(const std::string& x, int64_t axis) { return op("Softmax", {x}, {{"axis", axis}})[0]; }

Graph GraphBuilder::finish() {
  infer_shapes(g_);
  return std::move(g_);
}

}  // namespace hilsim::graph
