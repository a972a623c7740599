// The one table of the op types hilsim supports: for each, the opsets it is accepted at, its
// attributes (name, type, default, required), whether constant folding may evaluate it, the
// cost-model class it is priced with and, where no native kernel exists, why it runs on the
// reference path. The importer validates against it; shape inference, the reference executor and
// lowering key their implementations by its names, and tests check that none of them has an op the
// table lacks or lacks one the table has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/graph/op.h"

namespace hilsim::graph {

// In AttrValue's order, so that a value's index() is its type.
enum class AttrType { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };
const char* attr_type_name(AttrType t);

struct AttrSpec {
  std::string name;
  AttrType type = AttrType::kInt;
  std::string default_text;  // as ONNX documents it; empty when the op works it out (e.g. pads, axes)
  bool required = false;
};

struct OpSpec {
  std::string type;
  int64_t opset_min = 0;  // first default-domain opset whose form of the op hilsim reads
  int64_t opset_max = 0;  // last one (the importer's upper bound unless the op was removed)
  std::vector<AttrSpec> attrs;
  bool foldable = false;       // fold_constants may evaluate it when its inputs are small constants
  std::string cost_class;      // memory-bound class ("pool", "concat", "resize", "copy", "elementwise");
                               // conv/gemm with constant weights are priced by their own classes
  std::string reference_only;  // why it has no native lowering; empty when it has one
  bool importable = true;      // false: only hilsim's passes create it (e.g. Gelu before opset 20)
  // Evaluates an exp/erf/tanh approximation per output element (a rational or polynomial of ~20 flops):
  // priced per such element too (KernelInstance::act_bytes), not only per byte moved. A GELU ran at
  // 4-8x the per-byte time of an add of the same tensor.
  bool math_per_element = false;
  // How many times the native kernel sweeps its input, and writes (or rereads and rewrites) its output:
  // the extra sweeps are bytes it moves. LayerNorm reads each row three times (mean, variance,
  // normalise); Softmax reads its input twice (max, exp) and its output twice more (the sum's scale).
  // Priced as one pass each, ConvNeXt's LayerNorms and YOLOv8's DFL softmax ran at 3.6-5x their prediction.
  int input_reads = 1;
  int output_writes = 1;

  const AttrSpec* attr(const std::string& name) const;
};

// Every op type, sorted by name.
const std::vector<OpSpec>& op_registry();
// nullptr when the type is not in the table.
const OpSpec* find_op_spec(const std::string& type);

// Checks an imported node against its spec at `opset`: the opset range, every attribute known and of
// its type, every required one present. Throws Error(where, ...) naming the attribute.
void validate_op(const OpSpec& spec, const Op& op, int64_t opset, const std::string& where);

}  // namespace hilsim::graph
