#include "hilsim/util/error.h"

#include <gtest/gtest.h>

TEST(Error, MessageNamesWhereAndWhat) {
  hilsim::Error e("model.onnx: node 'conv1'", "weight has 3 channels, input has 4");
  EXPECT_STREQ(e.what(), "model.onnx: node 'conv1': weight has 3 channels, input has 4");
  EXPECT_EQ(e.where(), "model.onnx: node 'conv1'");
  EXPECT_EQ(e.detail(), "weight has 3 channels, input has 4");
}
