// What calibration measures and the cost model predicts share one vocabulary: a kernel instance
// (class + shape + format facts + threads) and its features. A class is the kernel that runs
// ("dense_conv3x3", "depthwise_conv3x3", "block_8x4", "pattern_2ep", "csr_1x1", "gemm", "pool",
// "elementwise", "concat", "resize", "copy", "transfer"); profiles hold one fitted model per class
// and thread count, keyed "CLASS/tN".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hilsim::calibration {

struct KernelInstance {
  std::string klass;
  int threads = 1;
  int64_t macs = 0;          // dense-equivalent multiply-accumulates
  int64_t executed_macs = 0; // what the kernel really computes (sparse: kept weights only)
  int64_t in_bytes = 0;      // activations read
  int64_t out_bytes = 0;     // activations written
  int64_t weight_bytes = 0;  // weights in their storage format (values + indices)
  int64_t out_tiles = 0;     // output tiles (register-tile granularity): per-tile overheads
  int64_t work_items = 0;    // independent parallel items the kernel splits over threads
  int64_t lane_macs = 0;     // sparse engine: kept weights x the vector lanes its tiles cover (incl. idle ones)
  int64_t act_bytes = 0;     // output bytes through a transcendental activation (SiLU, sigmoid, ...)
};

// Classes of compute kernels, whose features are MAC- and tile-based; the others are memory-bound.
bool is_compute_class(const std::string& klass);

// The model terms of a class, in order ("call" is the constant per-call cost).
const std::vector<std::string>& feature_names(const std::string& klass);
std::map<std::string, double> features_of(const KernelInstance& k);

std::string profile_key(const std::string& klass, int threads);  // "dense_conv3x3/t2"

// Class of a conv by kernel size: dense_conv1x1, dense_conv3x3, dense_convkxk, depthwise_conv3x3 ...
std::string dense_conv_class(int64_t kh, int64_t kw, bool depthwise);

}  // namespace hilsim::calibration
