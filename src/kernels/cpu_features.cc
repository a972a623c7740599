#include "hilsim/kernels/cpu_features.h"

#include <cstdlib>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric: return "generic";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "generic";
}

Isa parse_isa(const std::string& s, const std::string& where) {
  if (s == "generic") return Isa::kGeneric;
  if (s == "avx2") return Isa::kAvx2;
  if (s == "avx512") return Isa::kAvx512;
  throw Error(where, "unknown ISA '" + s + "' (expected generic, avx2 or avx512)");
}

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports checks CPUID and, for AVX/AVX-512, that the OS saves the wide registers.
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
#endif
  return f;
}

Isa detected_best() {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma) return Isa::kAvx512;
  if (f.avx2 && f.fma) return Isa::kAvx2;
#endif
  (void)f;
  return Isa::kGeneric;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(detected_best()); }

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kGeneric, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

Isa active_isa() {
  // Read on every call (cheap next to a prepare) so tests and tools can change it with setenv().
  Isa best = detected_best();
  const char* env = std::getenv("HILSIM_ISA");
  if (!env || !*env) return best;
  Isa want = parse_isa(env);
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace hilsim::kernels
