// Shared by the partitioner's tests: a bundled measured profile (also with a synthetic gpu unit) and
// small zoo models to plan.
#pragma once

#include <map>
#include <string>

#include "hilsim/graph/zoo.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/model/profile.h"

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

}  // namespace hilsim::partition
