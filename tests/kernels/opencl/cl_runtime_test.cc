// The OpenCL backend: device discovery, the program cache (a second process reads the compiled binary
// instead of compiling), timed transfers. Skipped, saying why, where no OpenCL device exists.
#include "hilsim/kernels/opencl/cl_runtime.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hilsim/util/error.h"

namespace hilsim::kernels::opencl {
namespace {

#define SKIP_WITHOUT_OPENCL()                                                             \
  if (std::string why = ClContext::unavailable_reason(); !why.empty())                    \
  GTEST_SKIP() << "no OpenCL device: " << why

TEST(ClRuntime, UnavailableReasonAgreesWithGet) {
  std::string why = ClContext::unavailable_reason();
  if (why.empty()) {
    auto ctx = ClContext::get();
    EXPECT_FALSE(ctx->device().name.empty());
    EXPECT_GT(ctx->device().compute_units, 0);
  } else {
    try {
      ClContext::get();
      FAIL() << "get() must throw when unavailable_reason() says '" << why << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("OpenCL"), std::string::npos) << e.what();
    }
  }
}

TEST(ClRuntime, ProgramCacheServesASecondBuildFromDisk) {
  SKIP_WITHOUT_OPENCL();
  auto ctx = ClContext::get();
  // A cache of its own, so the test leaves nothing behind in the user's.
  char dir_template[] = "/tmp/hilsim-cl-cache-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const char* old = std::getenv("HILSIM_CACHE_DIR");
  const std::string saved = old ? old : "";
  setenv("HILSIM_CACHE_DIR", dir_template, 1);
  struct Restore {
    std::string saved, dir;
    bool had;
    ~Restore() {
      if (had) setenv("HILSIM_CACHE_DIR", saved.c_str(), 1);
      else unsetenv("HILSIM_CACHE_DIR");
      std::filesystem::remove_all(dir);
    }
  } restore{saved, dir_template, old != nullptr};
  // A source no earlier run has seen, so the first build must compile.
  std::random_device rd;
  const std::string tag = std::to_string(rd()) + std::to_string(rd());
  const std::string src = "// " + tag + "\n__kernel void twice(__global float* x) { x[get_global_id(0)] *= 2.0f; }\n";
  bool from_disk = true, compiled = false;
  void* p = ctx->program(src, "", &from_disk, &compiled);
  EXPECT_TRUE(compiled);
  EXPECT_FALSE(from_disk);
  ctx->forget_programs();  // what a new process sees: nothing in memory
  void* q = ctx->program(src, "", &from_disk, &compiled);
  EXPECT_FALSE(compiled) << "the second build recompiled instead of reading " << ClContext::cache_dir();
  EXPECT_TRUE(from_disk);
  // The binary from the cache runs.
  auto k = ctx->kernel(q, "twice");
  std::vector<float> v = {1, 2, 3, -4.5f};
  auto b = ctx->alloc(v.size() * 4);
  EXPECT_GE(ctx->write(*b, v.data(), v.size() * 4), 0.0);
  EXPECT_GE(ctx->launch(*k, {b}, {v.size()}), 0.0);
  std::vector<float> got(v.size());
  ctx->read(*b, got.data(), got.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(got[i], 2 * v[i]);
  (void)p;
}

TEST(ClRuntime, MappedTransfersRoundTrip) {
  SKIP_WITHOUT_OPENCL();
  auto ctx = ClContext::get();
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.25f;
  auto b = ctx->alloc(v.size() * 4);
  EXPECT_GE(ctx->write_mapped(*b, v.data(), v.size() * 4), 0.0);
  std::vector<float> got(v.size(), -1);
  EXPECT_GE(ctx->read_mapped(*b, got.data(), got.size() * 4), 0.0);
  EXPECT_EQ(got, v);
}

TEST(ClRuntime, BuildErrorNamesTheProgram) {
  SKIP_WITHOUT_OPENCL();
  auto ctx = ClContext::get();
  try {
    ctx->program("__kernel void broken(__global float* x) { x[0] = undefined_thing; }", "");
    FAIL() << "a broken program built";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("build failed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hilsim::kernels::opencl
