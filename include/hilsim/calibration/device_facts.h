// Facts about the machine a profile is calibrated on, read from the OS (sysfs, /proc) rather than
// asked of the user: CPU model, cores, caches, ISA extensions, OS, frequency governor; and the build
// (version, commit) that reads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/model/profile.h"

namespace hilsim::calibration {

// Cache sizes in bytes by level (<= 0: unknown), as the C library reports them.
struct CacheSizes {
  int64_t l1d = 0, l2 = 0, l3 = 0;
};
CacheSizes libc_cache_sizes();
// The cache list of a machine whose sysfs has none: L1d and L2 private, the last level shared.
std::vector<model::CacheLevel> caches_from_sizes(const CacheSizes& s);

// Caches come from sysfs, or from the C library (cpuid) where sysfs has none and `root` is "/".
// `root` is the filesystem root to read from ("/" normally; a fake tree in tests).
model::DeviceInfo detect_device(const std::string& root = "/");

// The last-level cache of the machine this process runs on (detect_device, read once), 0 if unknown:
// where calibration's samples read their weights from (model::place_operands).
int64_t host_llc_bytes();

// This build's kernels digest (CMake hashes the kernel sources): the one stamp that profiles and
// samples record in device.kernels and `hilsim --version` prints.
std::string build_kernels_digest();

// Parses sysfs cache sizes such as "48K", "2048K", "32M"; -1 when unreadable.
int64_t parse_cache_size(const std::string& text);

}  // namespace hilsim::calibration
