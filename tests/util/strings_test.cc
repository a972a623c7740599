#include "hilsim/util/strings.h"

#include <gtest/gtest.h>

TEST(Strings, SplitListDropsEmptyItems) {
  using V = std::vector<std::string>;
  EXPECT_EQ(hilsim::split_list("a,b,,c,"), (V{"a", "b", "c"}));
  EXPECT_EQ(hilsim::split_list(""), V{});
  EXPECT_EQ(hilsim::split_list("4;5", ';'), (V{"4", "5"}));
}
