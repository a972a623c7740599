// The built-in reference models, generated in C++ with random weights from a fixed seed: the
// project's own test corpus and the embedded default of the README's main job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"

namespace hilsim::graph {

struct ZooOptions {
  double width = 1.0;      // channel width multiplier
  int64_t resolution = 0;  // input H = W; 0 picks the model's default (yolov5s_like: 320)
  uint64_t seed = 1;
};

// yolov5s_like, mobileone_s0 (train form, with branches), resnet18_like, mobilenetv2_like, vgg_like,
// resnet50_like (bottlenecks, 53 convs: the cost model's query-speed graph), regnety_like (grouped 3x3
// bottlenecks with squeeze-excite and a 4096-wide two-layer classifier: the layers of real networks
// the others lack).
const std::vector<std::string>& zoo_names();
// Shapes inferred, BN statistics non-trivial (so folding is really tested). Throws on unknown name.
Graph make_zoo_model(const std::string& name, const ZooOptions& opts = {});

}  // namespace hilsim::graph
