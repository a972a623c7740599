#include "hilsim/model/conv_kernel_class.h"

#include <gtest/gtest.h>

namespace hilsim::model {
namespace {

using runtime::ConvFamily;

TEST(ConvKernelClass, WindowsWithKernelsOfTheirOwnHaveClassesOfTheirOwn) {
  struct Case {
    ConvFamily family;
    int64_t kh, kw;
    int row_height;
    const char* klass;
  };
  // Depthwise windows without a vector kernel (1x1, 9x9, non-square) price as the dense class of their
  // size, as calibration has always timed them.
  const Case cases[] = {
      {ConvFamily::kDense, 1, 1, 1, "dense_conv1x1"},         {ConvFamily::kDense, 3, 3, 1, "dense_conv3x3"},
      {ConvFamily::kDense, 5, 5, 1, "dense_conv5x5"},         {ConvFamily::kDense, 7, 7, 1, "dense_convkxk"},
      {ConvFamily::kDense, 2, 2, 1, "dense_convkxk"},         {ConvFamily::kDense, 1, 3, 1, "dense_convkxk"},
      {ConvFamily::kDepthwise, 3, 3, 1, "depthwise_conv3x3"}, {ConvFamily::kDepthwise, 5, 5, 1, "depthwise_conv5x5"},
      {ConvFamily::kDepthwise, 7, 7, 1, "depthwise_conv7x7"}, {ConvFamily::kDepthwise, 1, 1, 1, "dense_conv1x1"},
      {ConvFamily::kDepthwise, 9, 9, 1, "dense_convkxk"},     {ConvFamily::kDepthwise, 7, 5, 1, "dense_convkxk"},
      {ConvFamily::kSparse, 3, 3, 8, "sparse_fb8"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(conv_kernel_class(c.family, c.kh, c.kw, c.row_height), c.klass) << c.kh << "x" << c.kw;
}

TEST(ConvKernelClass, OnlyTheSplitClassHasAnOlderOne) {
  EXPECT_EQ(older_conv_class("depthwise_conv7x7"), "dense_convkxk");
  for (const char* k : {"dense_convkxk", "depthwise_conv3x3", "depthwise_conv5x5", "dense_conv1x1", "sparse_fb1", ""})
    EXPECT_EQ(older_conv_class(k), "") << k;
}

}  // namespace
}  // namespace hilsim::model
