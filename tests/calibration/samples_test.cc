#include "hilsim/calibration/samples.h"

#include <gtest/gtest.h>

#include <filesystem>

TEST(Samples, BundledSamplesLoad) {
  // The raw samples kept beside a measured profile must load (and be of this kernel version).
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(HILSIM_SOURCE_DIR) / "device_profiles")) {
    const std::string name = e.path().filename().string();
    if (name.size() <= 13 || name.substr(name.size() - 13) != ".samples.json") continue;
    SCOPED_TRACE(name);
    EXPECT_FALSE(hilsim::calibration::load_samples(e.path().string()).samples.empty());
    ++n;
  }
  EXPECT_GE(n, 1);
}
