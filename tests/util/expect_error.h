// Tests of bad input: `f` must throw hilsim::Error, and its message must name `needle` (the file, node,
// field or flag at fault).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
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

// The same, for a message that must name several things (the fault and what to do about it).
template <class F>
void expect_error(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace hilsim
