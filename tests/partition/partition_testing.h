// Shared by the partitioner's tests: a bundled measured profile (also with a synthetic gpu unit),
// small zoo models to plan, and the weight bytes a packed file holds for one conv.
#pragma once

#include <map>
#include <string>

#include "hilsim/graph/zoo.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/model/profile.h"
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

// The measured x86 profile with a gpu unit whose every class runs `factor` times the one-core time,
// host copies at 20 us + 5 GB/s and `sync_us` per crossing.
inline model::Profile with_gpu(double factor, double sync_us = 0) {
  model::Profile p = model::load_profile(kProfile);
  std::map<std::string, model::KernelModel> gpu;
  for (const auto& [key, m] : p.kernels) {
    std::string klass;
    int threads = 0;
    if (!model::split_profile_key(key, &klass, &threads) || threads != 1 || klass == "dispatch") continue;
    model::KernelModel g = m;
    g.unit = "gpu";
    for (double& v : g.params) v *= factor;
    gpu[model::gpu_profile_key(klass)] = g;
  }
  p.kernels.insert(gpu.begin(), gpu.end());
  model::UnitSpec u;
  u.id = "gpu";
  u.kind = "gpu";
  u.peak_gflops = 1000;
  u.mem_gbps = 100;
  u.host_transfer = {20, 5, sync_us, "measured", ""};
  p.units.push_back(u);
  // The profile still loads after a round trip (CLASS/gpu keys, host_transfer).
  return model::parse_profile(model::dump_profile(p), "with_gpu");
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
