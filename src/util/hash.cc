#include "hilsim/util/hash.h"

#include <cstdlib>

namespace hilsim {

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string cache_root() {
  if (const char* c = std::getenv("HILSIM_CACHE_DIR"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/hilsim";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/hilsim";
  return "";
}

}  // namespace hilsim
