#include "hilsim/calibration/kernel_features.h"

#include <gtest/gtest.h>

using namespace hilsim::calibration;

TEST(KernelFeatures, MemoryBoundOpsCountDramStreamedBytesApart) {
  KernelInstance small;
  small.klass = "elementwise";
  small.in_bytes = 2 * 64 * 28 * 28 * 4, small.out_bytes = 64 * 28 * 28 * 4;  // 0.6 MiB: cache-resident
  auto f = features_of(small);
  EXPECT_EQ(f.at("bytes"), static_cast<double>(small.in_bytes + small.out_bytes));
  EXPECT_EQ(f.at("far_bytes"), 0.0);
  KernelInstance big = small;
  big.in_bytes *= 16, big.out_bytes *= 16;  // 9.2 MiB: streams from DRAM
  f = features_of(big);
  EXPECT_EQ(f.at("far_bytes"), f.at("bytes"));
  EXPECT_GT(f.at("bytes"), static_cast<double>(kNearActBytes));
  // Compute classes keep their own feature set.
  KernelInstance conv;
  conv.klass = "dense_conv3x3";
  EXPECT_EQ(features_of(conv).count("far_bytes"), 0u);
}
