// JSON text parsed with the one error every hilsim file reader gives. Header-only: the util sources
// are compiled into the kernels library, whose cross builds carry no JSON dependency.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "hilsim/util/error.h"

namespace hilsim {

// `text` parsed; Error(where, "not valid JSON: ...") on a syntax error or a number that overflows.
inline nlohmann::json parse_json(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for overflowing numbers
    throw Error(where, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace hilsim
