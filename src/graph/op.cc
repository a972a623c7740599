#include "hilsim/graph/op.h"

#include "hilsim/util/error.h"

namespace hilsim::graph {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kClip: return "clip";
    case Activation::kSigmoid: return "sigmoid";
    case Activation::kSiLU: return "silu";
    case Activation::kHardSwish: return "hardswish";
    case Activation::kHardSigmoid: return "hardsigmoid";
  }
  return "none";
}

namespace {
template <typename T>
const T* get(const Op& op, const std::string& k) {
  auto it = op.attrs.find(k);
  if (it == op.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw Error("node '" + op.name + "'", "attribute '" + k + "' has the wrong type");
  return v;
}
}  // namespace

int64_t Op::attr_int(const std::string& k, int64_t dflt) const {
  const auto* v = get<int64_t>(*this, k);
  return v ? *v : dflt;
}

float Op::attr_float(const std::string& k, float dflt) const {
  auto it = attrs.find(k);
  if (it == attrs.end()) return dflt;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  const auto* v = get<float>(*this, k);
  return *v;
}

std::string Op::attr_string(const std::string& k, const std::string& dflt) const {
  const auto* v = get<std::string>(*this, k);
  return v ? *v : dflt;
}

std::vector<int64_t> Op::attr_ints(const std::string& k, const std::vector<int64_t>& dflt) const {
  const auto* v = get<std::vector<int64_t>>(*this, k);
  return v ? *v : dflt;
}

std::vector<float> Op::attr_floats(const std::string& k, const std::vector<float>& dflt) const {
  const auto* v = get<std::vector<float>>(*this, k);
  return v ? *v : dflt;
}

const Tensor* Op::attr_tensor(const std::string& k) const { return get<Tensor>(*this, k); }

std::optional<std::string> Op::input(size_t i) const {
  if (i >= inputs.size() || inputs[i].empty()) return std::nullopt;
  return inputs[i];
}

}  // namespace hilsim::graph
