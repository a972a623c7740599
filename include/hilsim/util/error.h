// The one exception type of hilsim: every failure names where it happened (a file, a node, a JSON
// field) and what is wrong, so the CLI can print one line and exit 2 without a stack trace.
#pragma once

#include <stdexcept>
#include <string>

namespace hilsim {

class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string what);

  const std::string& where() const { return where_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string where_;
  std::string detail_;
};

}  // namespace hilsim
