// Facts about the machine a profile is calibrated on, read from the OS (sysfs, /proc) rather than
// asked of the user: CPU model, cores, caches, ISA extensions, OS, frequency governor; and the build
// (version, commit) that reads them.
#pragma once

#include <string>

#include "hilsim/costmodel/profile.h"

namespace hilsim::calibration {

// `root` is the filesystem root to read from ("/" normally; a fake tree in tests).
costmodel::DeviceInfo detect_device(const std::string& root = "/");

// Parses sysfs cache sizes such as "48K", "2048K", "32M"; -1 when unreadable.
int64_t parse_cache_size(const std::string& text);

}  // namespace hilsim::calibration
