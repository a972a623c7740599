// Raw calibration samples: one timed kernel instance each, kept beside the profile so a profile can
// be re-fitted (`hilsim fit`) without re-measuring, and checkpointed so an interrupted calibration
// resumes. A samples file records the kernels that produced it in device.kernels, the build's digest
// of the kernel sources (the profile's stamp, which fit_profile copies over): timings of other
// kernels make a profile of those kernels, flagged as such wherever it is used.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "hilsim/model/profile.h"

namespace hilsim::calibration {

// 2: the kernels are device.kernels (the build's digest). 1 carried a hand-kept "kernel_version"
// beside it, which fell behind the code; version-1 files still load, their kernels unknown.
inline constexpr int kSamplesSchemaVersion = 2;

struct Sample {
  std::string klass;                       // kernel class, e.g. "dense_conv3x3", "block_8x4"
  std::string instance;                    // the shape, for humans and for de-duplication
  std::map<std::string, double> features;  // macs, bytes, threads, ...
  double ms_median = 0;
  double ms_p10 = 0;
  double ms_p90 = 0;
  int repeats = 0;
  std::string unit;  // "" for the CPU (threads in features), "gpu" for the OpenCL device
};

// The time a fit aims at: the sample's 10th percentile. On a shared machine a neighbour's burst only
// ever adds time, so a low quantile estimates the undisturbed kernel (the median of 7 repeats was
// pulled up by bursts lasting seconds, and whole-model predictions sat 10-50% above the least-disturbed
// runs the benchmarks take as ground truth). Samples written without a p10 fall back to the median.
inline double fit_ms(const Sample& s) { return s.ms_p10 > 0 ? s.ms_p10 : s.ms_median; }

// The thread count a sample was taken at (1 for samples that do not say).
inline int sample_threads(const Sample& s) {
  auto it = s.features.find("threads");
  return it == s.features.end() ? 1 : static_cast<int>(std::lround(it->second));
}

struct SampleSet {
  int schema_version = kSamplesSchemaVersion;
  model::DeviceInfo device;  // device.kernels: the kernels digest the samples were measured with ("" unknown)
  std::string note;  // e.g. "measured under qemu-user: timings are meaningless"
  // The OpenCL device the gpu samples were taken on, and the CPU core driving it (-1: not pinned).
  std::string gpu_device;
  int gpu_core = -1;
  int gpu_compute_units = 1;  // the device's, over which the samples' "waves" were counted
  std::vector<Sample> samples;
};

SampleSet parse_samples(const std::string& json_text, const std::string& where);
SampleSet load_samples(const std::string& path);
std::string dump_samples(const SampleSet& s);
void save_samples(const SampleSet& s, const std::string& path);  // atomic (write + rename)

// "" when `s` was measured with the kernels whose digest is `build_kernels`; else how they differ, as
// a phrase after "the samples were": "measured with other kernels (X) than this build runs (Y)", or
// with unknown kernels for files that predate the digest.
std::string samples_kernels_mismatch(const SampleSet& s, const std::string& build_kernels);

}  // namespace hilsim::calibration
