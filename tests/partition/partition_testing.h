// Shared by the partitioner's tests: a bundled measured profile, small zoo models to plan, and the
// weight bytes a packed file holds for one conv.
#pragma once

#include <string>

#include "hilsim/graph/zoo.h"
#include "hilsim/partition/packed_model.h"
#include "hilsim/partition/planner.h"

namespace hilsim::partition {

inline const std::string kProfile = std::string(HILSIM_SOURCE_DIR) + "/device_profiles/x86_avx512_2core.json";

inline graph::Graph small(const std::string& name) {
  graph::ZooOptions o;
  o.resolution = 64;
  o.width = 0.5;
  return graph::make_zoo_model(name, o);
}

// Bytes of one conv's weight vectors in the file: everything but the fixed framing around them.
inline int64_t file_weight_bytes(const PackedConv& pc) {
  PackedModel m;
  m.fingerprint = "fp";
  m.convs.push_back(pc);
  const int64_t framing = 8 + 4 + 4 + 8 + 8                           // magic, version, 0, payload size, checksum
                          + (4 + 2) + 4                               // fingerprint, conv count
                          + (4 + static_cast<int64_t>(pc.op.size()))  // op name
                          + (4 + static_cast<int64_t>(pc.label.size())) + 4 + 4 * 8  // label, fb, f c kh kw
                          + 5 * 8;                                    // five vector lengths
  return static_cast<int64_t>(serialize_packed(m).size()) - framing;
}

// Options for a plan `target_speedup` times faster than dense on one thread (the tests' usual ask).
inline PlanOptions speedup_options(double target_speedup) {
  PlanOptions o;
  o.target_speedup = target_speedup;
  o.threads = 1;
  return o;
}

}  // namespace hilsim::partition
