#include "hilsim/codegen/shipped_kernels.h"

namespace hilsim::codegen {

const std::vector<ShippedFile>& shipped_kernel_files() {
  // shipped_kernels.inc is written by CMake from the files listed in HILSIM_SHIPPED_KERNELS.
  static const std::vector<ShippedFile> files = {
#include "shipped_kernels.inc"
  };
  return files;
}

bool shipped_x86_only(const std::string& path, std::string* isa_flags) {
  if (path.rfind("src/kernels/x86/", 0) != 0) return false;
  const auto ends = [&](const std::string& t) { return path.size() >= t.size() && path.compare(path.size() - t.size(), t.size(), t) == 0; };
  if (isa_flags) {
    if (ends("_avx512.cc")) *isa_flags = "-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2";
    else if (ends("_avx2.cc")) *isa_flags = "-mavx2 -mfma";
    else isa_flags->clear();
  }
  return true;
}

}  // namespace hilsim::codegen
