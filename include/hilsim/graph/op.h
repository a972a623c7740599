// One operator of the IR: an ONNX-style node (type, attributes, named inputs/outputs) plus the marks
// that hilsim's passes add (a fused activation, a coupled-channel group).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "hilsim/graph/tensor.h"

namespace hilsim::graph {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor>;

// Activations a conv/gemm kernel can apply in its epilogue; the fusion pass sets them.
enum class Activation { kNone, kRelu, kClip, kSigmoid, kSiLU, kHardSwish, kHardSigmoid };
const char* activation_name(Activation a);

struct FusedActivation {
  Activation kind = Activation::kNone;
  float min = 0.0f;  // kClip bounds (ReLU6 = Clip 0..6)
  float max = 0.0f;
  float alpha = 0.2f;  // kHardSigmoid slope/offset
  float beta = 0.5f;
  std::string source_op;  // name of the activation node that was folded in
};

struct Op {
  std::string name;
  std::string type;                      // ONNX op type, e.g. "Conv"
  std::map<std::string, AttrValue> attrs;
  std::vector<std::string> inputs;       // tensor names; "" marks an absent optional input
  std::vector<std::string> outputs;
  FusedActivation fused;                 // set by the fusion pass
  bool unknown = false;                  // imported with --allow-unknown: treated as memory-bound

  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  int64_t attr_int(const std::string& k, int64_t dflt) const;
  float attr_float(const std::string& k, float dflt) const;
  std::string attr_string(const std::string& k, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& k, const std::vector<int64_t>& dflt = {}) const;
  std::vector<float> attr_floats(const std::string& k, const std::vector<float>& dflt = {}) const;
  const Tensor* attr_tensor(const std::string& k) const;

  // Input i if present and non-empty.
  std::optional<std::string> input(size_t i) const;
};

}  // namespace hilsim::graph
