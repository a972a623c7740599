// ONNX ⇄ IR. Import checks the model (opset 11–17), runs ONNX shape inference, folds the static
// Shape/Gather/Unsqueeze/Cast/Concat chains that torch exports, fixes dynamic dims from the user's
// input shapes, and rejects what hilsim cannot analyse with an error naming the file and node.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::graph {

struct ImportOptions {
  // Input name -> full shape. A single entry with an empty name applies to the only input.
  std::map<std::string, Shape> input_shapes;
  // Treat unknown ops as memory-bound elementwise ops (Op::unknown = true) instead of failing.
  bool allow_unknown = false;
  // Where set, receives one sentence per assumption the import made that the file left open (a dynamic
  // batch dim taken as 1), for the caller to show.
  std::vector<std::string>* notes = nullptr;
};

// Parses "images:1x3x320x320;mask:1x1" or "1x3x224x224" (single input). Throws Error on bad text.
std::map<std::string, Shape> parse_input_shapes(const std::string& spec);

// The op types hilsim knows (analysis, reference execution), sorted.
const std::vector<std::string>& supported_op_types();

Graph import_onnx(const std::string& path, const ImportOptions& opts = {});
// `where` names the source in errors (a file name, "<fuzz>").
Graph import_onnx_bytes(const std::string& bytes, const std::string& where, const ImportOptions& opts = {});

// Writes the IR as a valid ONNX model (the ONNX checker passes on it). Fused activations are written
// back as separate nodes so any ONNX tool can load the file.
void export_onnx(const Graph& g, const std::string& path);
std::string export_onnx_bytes(const Graph& g);

}  // namespace hilsim::graph
