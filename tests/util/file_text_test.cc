#include "hilsim/util/file_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "hilsim/util/error.h"

TEST(FileText, ReadsEveryByteAndNamesAMissingFile) {
  const std::string path = std::string(HILSIM_BINARY_DIR) + "/file_text_test.bin";
  const std::string bytes("a\0b\r\nc", 6);  // a NUL and a CR LF come back as written
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(hilsim::read_file(path, "cannot open it"), bytes);
  std::remove(path.c_str());
  try {
    hilsim::read_file(path, "cannot open the thing");
    ADD_FAILURE() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_EQ(e.where(), path);
    EXPECT_EQ(e.detail(), "cannot open the thing");
  }
}

TEST(FileText, WriteReplacesTheFileWhole) {
  const std::string path = std::string(HILSIM_BINARY_DIR) + "/file_text_test.out";
  hilsim::write_file_replacing(path, "first, longer text", "the test file");
  hilsim::write_file_replacing(path, "second", "the test file");
  EXPECT_EQ(hilsim::read_file(path, "missing"), "second");
  std::remove(path.c_str());
  const std::string in_missing_dir = std::string(HILSIM_BINARY_DIR) + "/no_such_dir/f.out";
  try {
    hilsim::write_file_replacing(in_missing_dir, "x", "the test file");
    ADD_FAILURE() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_EQ(e.where(), in_missing_dir);
    EXPECT_EQ(e.detail(), "cannot write the test file");
  }
}
