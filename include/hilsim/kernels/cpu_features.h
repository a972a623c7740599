// Which instruction sets the kernels may use. Detected once at run time; HILSIM_ISA=generic|avx2|avx512
// (environment) forces a lower path, so one binary can be measured and tested on every path it has.
#pragma once

#include <string>
#include <vector>

namespace hilsim::kernels {

// Ordered: a higher value implies the lower ones are usable too.
enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
};

const char* isa_name(Isa isa);
// Parses "generic" | "avx2" | "avx512"; throws hilsim::Error naming `where` otherwise.
Isa parse_isa(const std::string& s, const std::string& where = "HILSIM_ISA");

// What the CPU (and the OS, via XCR0) supports; all false on non-x86.
const CpuFeatures& cpu_features();
// The best path the CPU supports, lowered by HILSIM_ISA when set (a higher request is clamped).
Isa active_isa();
// Every path this CPU can run, lowest first (tests iterate over these).
std::vector<Isa> supported_isas();
bool isa_supported(Isa isa);

}  // namespace hilsim::kernels
