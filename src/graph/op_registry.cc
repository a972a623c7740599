#include "hilsim/graph/op_registry.h"

#include <algorithm>

#include "hilsim/util/error.h"

namespace hilsim::graph {

namespace {

constexpr int64_t kLast = 17;  // the importer's newest opset

using A = AttrType;

AttrSpec opt(std::string name, AttrType t, std::string dflt = "") {
  return {std::move(name), t, std::move(dflt), false};
}
AttrSpec req(std::string name, AttrType t) { return {std::move(name), t, "", true}; }

// Window attributes shared by Conv and the pools (ONNX spells them alike).
std::vector<AttrSpec> window_attrs(std::vector<AttrSpec> extra) {
  std::vector<AttrSpec> v = {opt("auto_pad", A::kString, "NOTSET"), opt("kernel_shape", A::kInts),
                             opt("pads", A::kInts), opt("strides", A::kInts), opt("dilations", A::kInts)};
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

std::vector<AttrSpec> reduce_attrs() {
  return {opt("axes", A::kInts), opt("keepdims", A::kInt, "1"), opt("noop_with_empty_axes", A::kInt, "0")};
}

// Reasons for the ops that stay on the reference path.
const char* kShapeMath = "shape arithmetic on small integer tensors: folded to a constant at import";
const char* kMaskBuild = "builds masks from constants (shifted-window attention): folded at import";
const char* kBoolOut =
    "bool output, which the float32 kernels do not produce; in exports it feeds shape arithmetic or masks that "
    "fold at import";

OpSpec op(std::string type, int64_t lo, std::vector<AttrSpec> attrs, std::string cost_class, bool foldable = false,
          std::string reference_only = "") {
  OpSpec s;
  s.type = std::move(type);
  s.opset_min = lo;
  s.opset_max = kLast;
  s.attrs = std::move(attrs);
  s.cost_class = std::move(cost_class);
  s.foldable = foldable;
  s.reference_only = std::move(reference_only);
  return s;
}

std::vector<OpSpec> build() {
  const std::string ew = "elementwise", copy = "copy", pool = "pool";
  std::vector<OpSpec> v = {
      op("Abs", 6, {}, ew),
      op("Add", 7, {}, ew, true),
      op("AveragePool", 7, window_attrs({opt("ceil_mode", A::kInt, "0"), opt("count_include_pad", A::kInt, "0")}),
         pool),
      op("BatchNormalization", 9,
         {opt("epsilon", A::kFloat, "1e-5"), opt("momentum", A::kFloat, "0.9"), opt("training_mode", A::kInt, "0")},
         ew),
      op("Cast", 6, {req("to", A::kInt), opt("saturate", A::kInt, "1")}, ew, true, kShapeMath),
      op("Clip", 11, {}, ew),
      op("Concat", 4, {req("axis", A::kInt)}, "concat", true),
      op("Constant", 1,
         {opt("value", A::kTensor), opt("value_float", A::kFloat), opt("value_floats", A::kFloats),
          opt("value_int", A::kInt), opt("value_ints", A::kInts)},
         ew, true, kShapeMath),
      op("ConstantOfShape", 9, {opt("value", A::kTensor)}, ew, true, kShapeMath),
      op("Conv", 1, window_attrs({opt("group", A::kInt, "1")}), ew),
      op("Div", 7, {}, ew, true),
      op("Dropout", 7, {opt("seed", A::kInt), opt("ratio", A::kFloat, "0.5")}, copy, true),
      op("Equal", 11, {}, ew, true, kBoolOut),
      op("Erf", 9, {}, ew),
      op("Exp", 6, {}, ew),
      op("Expand", 8, {}, copy, true),
      op("Flatten", 1, {opt("axis", A::kInt, "1")}, copy, true),
      op("Gather", 1, {opt("axis", A::kInt, "0")}, ew, true),
      op("Gemm", 7,
         {opt("alpha", A::kFloat, "1"), opt("beta", A::kFloat, "1"), opt("transA", A::kInt, "0"),
          opt("transB", A::kInt, "0")},
         ew),
      op("GlobalAveragePool", 1, {}, pool),
      op("GlobalMaxPool", 1, {}, pool),
      op("Greater", 9, {}, ew, true, kBoolOut),
      op("HardSigmoid", 6, {opt("alpha", A::kFloat, "0.2"), opt("beta", A::kFloat, "0.5")}, ew),
      op("HardSwish", 14, {}, ew),
      op("Identity", 1, {}, copy, true),
      op("LayerNormalization", 17,
         {opt("axis", A::kInt, "-1"), opt("epsilon", A::kFloat, "1e-5"), opt("stash_type", A::kInt, "1")}, ew),
      op("LeakyRelu", 6, {opt("alpha", A::kFloat, "0.01")}, ew),
      op("Less", 9, {}, ew, true, kBoolOut),
      op("MatMul", 1, {}, ew),
      op("Max", 8, {}, ew, true),
      op("MaxPool", 8,
         window_attrs({opt("ceil_mode", A::kInt, "0"), opt("storage_order", A::kInt, "0")}), pool),
      op("Min", 8, {}, ew, true),
      op("Mod", 10, {opt("fmod", A::kInt, "0")}, ew, true),
      op("Mul", 7, {}, ew, true),
      op("Neg", 6, {}, ew),
      op("Not", 1, {}, ew, true, kBoolOut),
      op("Pad", 11, {opt("mode", A::kString, "constant")}, copy),
      op("Pow", 7, {}, ew, true),
      op("Range", 11, {}, ew, true, kShapeMath),
      op("ReduceMax", 1, reduce_attrs(), pool),
      op("ReduceMean", 1, reduce_attrs(), pool),
      op("ReduceSum", 1, reduce_attrs(), pool),
      op("Relu", 6, {}, ew),
      op("Reshape", 5, {opt("allowzero", A::kInt, "0")}, copy, true),
      op("Resize", 10,
         {opt("mode", A::kString, "nearest"), opt("coordinate_transformation_mode", A::kString, "half_pixel"),
          opt("nearest_mode", A::kString, "round_prefer_floor"), opt("cubic_coeff_a", A::kFloat, "-0.75"),
          opt("exclude_outside", A::kInt, "0"), opt("extrapolation_value", A::kFloat, "0")},
         "resize"),
      op("ScatterND", 11, {opt("reduction", A::kString, "none")}, ew, true, kMaskBuild),
      op("Shape", 1, {opt("start", A::kInt, "0"), opt("end", A::kInt)}, ew, true, kShapeMath),
      op("Sigmoid", 6, {}, ew),
      op("Slice", 10, {}, copy, true),
      op("Softmax", 1, {opt("axis", A::kInt)}, ew),
      op("Split", 2, {opt("axis", A::kInt, "0"), opt("split", A::kInts)}, copy, true),
      op("Sqrt", 6, {}, ew),
      op("Squeeze", 1, {opt("axes", A::kInts)}, copy, true),
      op("Sub", 7, {}, ew, true),
      op("Tanh", 6, {}, ew),
      op("Transpose", 1, {opt("perm", A::kInts)}, copy, true),
      op("Unsqueeze", 1, {opt("axes", A::kInts)}, copy, true),
      op("Upsample", 7, {opt("mode", A::kString, "nearest"), opt("scales", A::kFloats)}, "resize"),
      op("Where", 9, {}, ew, true),
  };
  // The opset-20 op that the GELU pass writes for exported erf/tanh GELUs, into graphs of whatever
  // opset they were read at; not read from files (the importer stops at opset 17).
  OpSpec gelu = op("Gelu", 11, {opt("approximate", A::kString, "none")}, ew);
  gelu.importable = false;
  v.push_back(std::move(gelu));
  for (OpSpec& s : v) {
    for (const char* t : {"Erf", "Exp", "Gelu", "Pow", "Sigmoid", "Softmax", "Tanh"})
      if (s.type == t) s.math_per_element = true;
    // kernels::layer_norm and kernels::softmax (math_ops.cc)
    if (s.type == "LayerNormalization") s.input_reads = 3;
    if (s.type == "Softmax") s.input_reads = 2, s.output_writes = 3;
  }
  std::sort(v.begin(), v.end(), [](const OpSpec& a, const OpSpec& b) { return a.type < b.type; });
  return v;
}

}  // namespace

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::kInt: return "int";
    case AttrType::kFloat: return "float";
    case AttrType::kString: return "string";
    case AttrType::kInts: return "ints";
    case AttrType::kFloats: return "floats";
    case AttrType::kStrings: return "strings";
    case AttrType::kTensor: return "tensor";
  }
  return "?";
}

const AttrSpec* OpSpec::attr(const std::string& name) const {
  for (const auto& a : attrs)
    if (a.name == name) return &a;
  return nullptr;
}

const std::vector<OpSpec>& op_registry() {
  static const std::vector<OpSpec> table = build();
  return table;
}

const OpSpec* find_op_spec(const std::string& type) {
  const auto& t = op_registry();
  auto it = std::lower_bound(t.begin(), t.end(), type,
                             [](const OpSpec& s, const std::string& k) { return s.type < k; });
  return it != t.end() && it->type == type ? &*it : nullptr;
}

void validate_op(const OpSpec& spec, const Op& op, int64_t opset, const std::string& where) {
  if (opset < spec.opset_min || opset > spec.opset_max)
    throw Error(where, spec.type + " is read at opsets " + std::to_string(spec.opset_min) + "–" +
                           std::to_string(spec.opset_max) + ", the model declares opset " + std::to_string(opset));
  for (const auto& [name, value] : op.attrs) {
    const AttrSpec* a = spec.attr(name);
    if (!a) throw Error(where, "attribute '" + name + "' is not supported for " + spec.type);
    if (static_cast<size_t>(a->type) != value.index())
      throw Error(where, "attribute '" + name + "' must be of type " + attr_type_name(a->type) + ", got " +
                             attr_type_name(static_cast<AttrType>(value.index())));
  }
  for (const auto& a : spec.attrs)
    if (a.required && !op.has_attr(a.name)) throw Error(where, "required attribute '" + a.name + "' is missing");
}

}  // namespace hilsim::graph
