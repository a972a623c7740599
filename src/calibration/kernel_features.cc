#include "hilsim/calibration/kernel_features.h"

#include <algorithm>

namespace hilsim::calibration {

bool is_compute_class(const std::string& k) {
  for (const char* p : {"dense_conv", "depthwise_conv", "sparse_fb", "block_", "pattern_", "csr_", "gemm"})
    if (k.rfind(p, 0) == 0) return true;
  return false;
}

const std::vector<std::string>& feature_names(const std::string& klass) {
  // Compute kernels: time per executed MAC, per byte of each stream (weights are read once per
  // output tile row, activations stream), per output tile, plus a per-call cost (dispatch, packing of
  // the input panel, thread wake-up). Memory-bound kernels: per byte, per element, per call.
  static const std::vector<std::string> compute = {"macs", "in_bytes", "out_bytes", "weight_bytes", "tiles", "act_bytes", "lane_macs", "call"};
  static const std::vector<std::string> memory = {"bytes", "elements", "call"};
  static const std::vector<std::string> transfer = {"bytes", "call"};
  if (klass == "transfer") return transfer;
  return is_compute_class(klass) ? compute : memory;
}

std::map<std::string, double> features_of(const KernelInstance& k) {
  std::map<std::string, double> f;
  if (k.klass == "transfer") {
    f["bytes"] = static_cast<double>(k.in_bytes);
  } else if (is_compute_class(k.klass)) {
    f["macs"] = static_cast<double>(k.executed_macs);
    f["in_bytes"] = static_cast<double>(k.in_bytes);
    f["out_bytes"] = static_cast<double>(k.out_bytes);
    f["weight_bytes"] = static_cast<double>(k.weight_bytes);
    f["tiles"] = static_cast<double>(k.out_tiles);
    f["act_bytes"] = static_cast<double>(k.act_bytes);
    f["lane_macs"] = static_cast<double>(k.lane_macs);
  } else {
    f["bytes"] = static_cast<double>(k.in_bytes + k.out_bytes);
    f["elements"] = static_cast<double>(k.out_bytes / 4);
  }
  f["call"] = 1.0;
  return f;
}

std::string profile_key(const std::string& klass, int threads) { return klass + "/t" + std::to_string(threads); }

std::string dense_conv_class(int64_t kh, int64_t kw, bool depthwise) {
  std::string base = depthwise ? "depthwise_conv" : "dense_conv";
  if (kh == kw && (kh == 1 || kh == 3 || kh == 5)) return base + std::to_string(kh) + "x" + std::to_string(kw);
  return base + "kxk";
}

}  // namespace hilsim::calibration
