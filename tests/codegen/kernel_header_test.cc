#include "hilsim/codegen/kernel_header.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "hilsim/codegen/library_builder.h"

namespace hilsim::codegen {
namespace {

// The header stands alone: no hilsim include, and it compiles warning-free as C++17 for this machine
// (with and without AVX-512's 16-lane vectors) and, where the cross compiler is installed, for aarch64.
TEST(KernelHeader, CompilesStandaloneForEveryTarget) {
  const std::string& text = kernel_header_text();
  EXPECT_EQ(text.find("#include \"hilsim"), std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / ("hilsim_kernel_header_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / kKernelHeaderName) << text; }
  {
    std::ofstream(dir / "use.cc") << "#include \"model_kernels.h\"\n"
                                     "void f(const float* x, float* y, const int* r, const int* o, const float* w) {\n"
                                     "  hsk::conv_rows<8, 2, hsk::kSiLU, 0>(x, y, r, 1, o, w, w, 4, 4, 6, {0, 0});\n"
                                     "  hsk::conv_rows<1, 4, hsk::kClip, 4>(x, y, r, 1, o, w, w, 4, 4, 6, {0, 6});\n"
                                     "}\n";
  }
  const std::string base = " -std=c++17 -O1 -Wall -Wextra -Werror -fsyntax-only " +
                           shell_quote((dir / "use.cc").string());
  std::string out;
  EXPECT_EQ(run_command("g++" + base, &out), 0) << out;
  out.clear();
#if defined(__x86_64__)
  EXPECT_EQ(run_command("g++ -mavx512f" + base, &out), 0) << out;
  out.clear();
#endif
  if (run_command("command -v aarch64-linux-gnu-g++", &out) == 0) {
    out.clear();
    EXPECT_EQ(run_command("aarch64-linux-gnu-g++" + base, &out), 0) << out;
  } else {
    std::cout << "[  SKIPPED ] aarch64: aarch64-linux-gnu-g++ not on PATH\n";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hilsim::codegen
