#include "hilsim/util/strings.h"

#include <sstream>
#include <stdexcept>

namespace hilsim {

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parse_number(const std::string& s, double* out) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {  // invalid_argument, out_of_range
    return false;
  }
  if (used != s.size()) return false;
  *out = v;
  return true;
}

}  // namespace hilsim
