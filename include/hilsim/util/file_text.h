// Whole files read and written: what every loader and saver of a profile, samples, plan, sparsity or
// packed-model file does.
#pragma once

#include <string>

namespace hilsim {

// The bytes of `path`; throws Error(path, `error_if_missing`) when it cannot be opened, so each loader
// keeps its own message ("cannot open the profile ...").
std::string read_file(const std::string& path, const std::string& error_if_missing);

// Writes `bytes` to PATH.tmp, then renames it over `path`, so an interrupted save never leaves half a
// file behind. Errors name `path` and `what` ("the profile"): cannot write / write failed / cannot replace.
void write_file_replacing(const std::string& path, const std::string& bytes, const std::string& what);

}  // namespace hilsim
