// Content keys: FNV-1a over bytes (cache keys of compiled programs and kernels, the packed file's
// checksum, a model's fingerprint) and the user's cache folder those keys live in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hilsim {

inline constexpr uint64_t kFnvOffset = 1469598103934665603ull;

// FNV-1a of `n` bytes, continuing from `h` (chain calls to hash several pieces as one).
uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset);
inline uint64_t fnv1a(const std::string& s, uint64_t h = kFnvOffset) { return fnv1a(s.data(), s.size(), h); }

// $HILSIM_CACHE_DIR, else $XDG_CACHE_HOME/hilsim, else ~/.cache/hilsim; empty when none is set.
std::string cache_root();

}  // namespace hilsim
