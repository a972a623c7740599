// Shared by the partitioner's tests: a bundled measured profile and small zoo models to plan.
#pragma once

#include <string>

#include "hilsim/graph/zoo.h"

namespace hilsim::partition {

inline const std::string kProfile = std::string(HILSIM_SOURCE_DIR) + "/device_profiles/x86_avx512_2core.json";

inline graph::Graph small(const std::string& name) {
  graph::ZooOptions o;
  o.resolution = 64;
  o.width = 0.5;
  return graph::make_zoo_model(name, o);
}

}  // namespace hilsim::partition
