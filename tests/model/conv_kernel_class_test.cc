#include "hilsim/model/conv_kernel_class.h"

#include <gtest/gtest.h>

namespace hilsim::model {
namespace {

using runtime::ConvFamily;

TEST(ConvKernelClass, WindowsWithKernelsOfTheirOwnHaveClassesOfTheirOwn) {
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 1, 1, 1), "dense_conv1x1");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 3, 3, 1), "dense_conv3x3");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 5, 5, 1), "dense_conv5x5");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 7, 7, 1), "dense_convkxk");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 2, 2, 1), "dense_convkxk");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDense, 1, 3, 1), "dense_convkxk");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 3, 3, 1), "depthwise_conv3x3");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 5, 5, 1), "depthwise_conv5x5");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 7, 7, 1), "depthwise_conv7x7");
  // Depthwise windows without a vector kernel price as the dense class of their size, as calibration
  // has always timed them.
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 1, 1, 1), "dense_conv1x1");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 9, 9, 1), "dense_convkxk");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kDepthwise, 7, 5, 1), "dense_convkxk");
  EXPECT_EQ(conv_kernel_class(ConvFamily::kSparse, 3, 3, 8), "sparse_fb8");
}

TEST(ConvKernelClass, OnlyTheSplitClassHasAnOlderOne) {
  EXPECT_EQ(older_conv_class("depthwise_conv7x7"), "dense_convkxk");
  for (const char* k : {"dense_convkxk", "depthwise_conv3x3", "depthwise_conv5x5", "dense_conv1x1", "sparse_fb1", ""})
    EXPECT_EQ(older_conv_class(k), "") << k;
}

}  // namespace
}  // namespace hilsim::model
