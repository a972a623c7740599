#include "common_flags.h"

DEFINE_bool(json, false, "print one JSON object on stdout instead of tables");
DEFINE_string(input_shape, "",
              "fix dynamic input dims, e.g. 'images:1x3x320x320' or '1x3x224x224' for a single input; "
              "several inputs separated by ';'");
DEFINE_bool(allow_unknown, false,
            "treat ops hilsim does not know as memory-bound elementwise ops (and say so) instead of failing");
DEFINE_int32(threads, 1, "worker threads for kernels");

#include <cstdio>

#include "hilsim/graph/model_source.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::cli {

std::string bundled_profile() {
  return kernels::active_isa() == kernels::Isa::kAvx512 ? "device_profiles/x86_avx512_2core.json"
                                                        : "device_profiles/x86_avx2_2core.json";
}

graph::Graph load_model_from_flags(const std::string& spec) {
  graph::ImportOptions o;
  if (!FLAGS_input_shape.empty()) o.input_shapes = graph::parse_input_shapes(FLAGS_input_shape);
  o.allow_unknown = FLAGS_allow_unknown;
  return graph::load_model(spec, o);
}

std::string human_count(double v) {
  const char* unit[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000.0 && i < 4) {
    v /= 1000.0;
    ++i;
  }
  char b[32];
  std::snprintf(b, sizeof b, i ? "%.2f %s" : "%.0f%s", v, unit[i]);
  return b;
}

std::string human_bytes(double v) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (v >= 1024.0 && i < 4) {
    v /= 1024.0;
    ++i;
  }
  char b[32];
  std::snprintf(b, sizeof b, i ? "%.2f %s" : "%.0f %s", v, unit[i]);
  return b;
}

}  // namespace hilsim::cli
