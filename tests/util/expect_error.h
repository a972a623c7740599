// Tests of bad input: `f` must throw hilsim::Error, and its message must name `needle` (the file, node,
// field or flag at fault).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "hilsim/util/error.h"

namespace hilsim {

template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace hilsim
