// Where a MODEL argument comes from: an ONNX file path, or a built-in zoo model written
// `zoo:NAME[@RESOLUTION][xWIDTH]` (e.g. zoo:yolov5s_like@320, zoo:resnet18_like@224x0.5).
#pragma once

#include <string>

#include "hilsim/graph/graph.h"
#include "hilsim/graph/onnx_io.h"

namespace hilsim::graph {

bool is_zoo_spec(const std::string& spec);
Graph load_model(const std::string& spec, const ImportOptions& opts = {});

}  // namespace hilsim::graph
