// Small text helpers shared by the CLI and the standalone calibrator (which has no gflags or Boost).
#pragma once

#include <string>
#include <vector>

namespace hilsim {

// "a,b,,c" -> {"a", "b", "c"}: the items of a flag's list, empty ones dropped.
std::vector<std::string> split_list(const std::string& s, char sep = ',');

// `s` read as a decimal number, the whole of it ("0.8" yes; "", "0.8x" and "x" no); false leaves *out alone.
bool parse_number(const std::string& s, double* out);

}  // namespace hilsim
