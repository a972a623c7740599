#include "hilsim/codegen/library_builder.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "hilsim/util/error.h"
#include "util/expect_error.h"

namespace hilsim::codegen {
namespace {

TEST(LibraryBuilder, UnknownTargetsAndMissingCompilersAreNamed) {
  expect_error([] { find_toolchain("riscv"); }, "--target riscv");
  ::setenv("HILSIM_AARCH64_CXX", "no-such-aarch64-g++", 1);
  expect_error([] { find_toolchain("aarch64"); }, "no-such-aarch64-g++");
  ::unsetenv("HILSIM_AARCH64_CXX");
  ::setenv("HILSIM_CXX", "no-such-g++", 1);
  expect_error([] { find_toolchain("host"); }, "no-such-g++");
  ::unsetenv("HILSIM_CXX");
}

TEST(LibraryBuilder, CommandsAndQuoting) {
  std::string out;
  EXPECT_EQ(run_command("echo " + shell_quote("it's $HOME"), &out), 0);
  EXPECT_EQ(out, "it's $HOME\n");
  out.clear();
  EXPECT_EQ(run_command("exit 3", &out), 3);
}

}  // namespace
}  // namespace hilsim::codegen
