// Small text helpers shared by the CLI and the standalone calibrator (which has no gflags or Boost).
#pragma once

#include <string>
#include <vector>

namespace hilsim {

// "a,b,,c" -> {"a", "b", "c"}: the items of a flag's list, empty ones dropped.
std::vector<std::string> split_list(const std::string& s, char sep = ',');

}  // namespace hilsim
