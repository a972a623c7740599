// The runtime kernel sources that an emitted library compiles in (embedded in hilsim at build time),
// so the library runs the very kernels the device profile was calibrated on.
#pragma once
#include <string>
#include <vector>

namespace hilsim::codegen {

struct ShippedFile {
  std::string path;  // relative to the source tree, e.g. "src/kernels/gemm.cc"
  std::string text;
};

// Every shipped header and source, headers first as listed in CMakeLists.txt.
const std::vector<ShippedFile>& shipped_kernel_files();

// True for a source that only x86-64 builds compile (src/kernels/x86/*.cc); `isa_flags` receives the
// -m flags it needs (the same as CMakeLists.txt gives it).
bool shipped_x86_only(const std::string& path, std::string* isa_flags);

}  // namespace hilsim::codegen
