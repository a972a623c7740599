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

// The separable max pool against the plain window loop: SPPF's 5x5 stride 1, ResNet's 3x3 stride 2,
// windows hanging past every edge, and a row too wide for its stack buffer.
TEST(KernelHeader, SeparableMaxPoolMatchesThePlainLoop) {
  const auto dir = std::filesystem::temp_directory_path() / ("hilsim_kernel_pool_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / kKernelHeaderName) << kernel_header_text(); }
  std::ofstream(dir / "pool.cc") << R"(#include "model_kernels.h"
#include <cstdio>
#include <vector>
int check(int c, int h, int w, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr) {
  const int oh = (h + pt + pb - kh) / sh + 1, ow = (w + pl + pr - kw) / sw + 1;
  std::vector<float> x(static_cast<size_t>(c) * h * w), y(static_cast<size_t>(c) * oh * ow);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1013) - 500.0f;
  hsk::max_pool(x.data(), y.data(), c, h, w, oh, ow, kh, kw, sh, sw, pt, pl);
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        float m = -INFINITY;
        for (int ky = 0; ky < kh; ++ky)
          for (int kx = 0; kx < kw; ++kx) {
            const int yy = oy * sh + ky - pt, xx = ox * sw + kx - pl;
            if (yy >= 0 && yy < h && xx >= 0 && xx < w && x[(ch * h + yy) * w + xx] > m) m = x[(ch * h + yy) * w + xx];
          }
        if (y[(static_cast<size_t>(ch) * oh + oy) * ow + ox] != m) {
          std::printf("mismatch c%d h%d w%d k%dx%d s%d,%d at %d,%d,%d\n", c, h, w, kh, kw, sh, sw, ch, oy, ox);
          return 1;
        }
      }
  return 0;
}
int main() {
  return check(3, 20, 20, 5, 5, 1, 1, 2, 2, 2, 2) | check(2, 17, 15, 3, 3, 2, 2, 1, 1, 1, 1) |
         check(2, 9, 11, 2, 3, 2, 1, 0, 1, 1, 1) | check(1, 4, 4, 3, 3, 1, 1, 2, 2, 2, 2) |
         check(1, 3, 9000, 3, 3, 1, 1, 1, 1, 1, 1);
}
)";
  std::string out;
  const std::string exe = (dir / "pool").string();
  ASSERT_EQ(run_command("g++ -std=c++17 -O3 -march=native -o " + shell_quote(exe) + " " +
                            shell_quote((dir / "pool.cc").string()), &out), 0) << out;
  out.clear();
  EXPECT_EQ(run_command(shell_quote(exe), &out), 0) << out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hilsim::codegen
