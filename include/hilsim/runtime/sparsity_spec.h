// The per-layer sparsity configuration that `run`, `predict` and the predictor API take, and that a
// plan carries: for each conv, its storage format (dense, block-punched, block_col, pattern, csr),
// block size, ratio, pattern size and unit. Parsed from the CLI's SPEC:
//   block:8x4@0.8 | block_col:8x4@0.8 | pattern:2 | pattern:3 | csr@0.9 | channel@0.5
// (applied to every eligible conv) or from a JSON file mapping op names to
//   {"format":"block","block":[8,4],"ratio":0.8} / {"format":"pattern","entries":2} / {"format":"csr","ratio":0.9}.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hilsim::runtime {

enum class Format { kDense, kBlock, kBlockCol, kPattern, kCsr };
const char* format_name(Format f);

struct LayerSparsity {
  Format format = Format::kDense;
  int bf = 8, bc = 4;   // block size (filters x channels) for kBlock / kBlockCol
  double ratio = 0;     // fraction of weights removed (kBlock, kBlockCol, kCsr)
  int entries = 2;      // kept taps per 3x3 kernel for kPattern (2 or 3)
  std::string unit;     // execution unit, "" = default
};

struct SparsitySpec {
  std::optional<LayerSparsity> all;             // uniform spec for every eligible conv
  std::map<std::string, LayerSparsity> layers;  // per op name (overrides `all`)

  // The setting for one op, if any.
  std::optional<LayerSparsity> for_op(const std::string& name) const;
};

// Parses "block:8x4@0.8" etc., or, when `text` names an existing file / ends in .json, loads it.
// Throws hilsim::Error naming the spec or the file + field.
SparsitySpec parse_sparsity_spec(const std::string& text);
SparsitySpec parse_sparsity_json(const std::string& json_text, const std::string& where);
LayerSparsity parse_layer_spec(const std::string& text);  // the uniform form only
std::string layer_spec_str(const LayerSparsity& s);       // inverse of parse_layer_spec

}  // namespace hilsim::runtime
