#include "hilsim/util/strings.h"

#include <gtest/gtest.h>

TEST(Strings, SplitListDropsEmptyItems) {
  using V = std::vector<std::string>;
  EXPECT_EQ(hilsim::split_list("a,b,,c,"), (V{"a", "b", "c"}));
  EXPECT_EQ(hilsim::split_list(""), V{});
  EXPECT_EQ(hilsim::split_list("4;5", ';'), (V{"4", "5"}));
}

TEST(Strings, ParseNumberTakesTheWholeTextOrNothing) {
  double v = -1;
  EXPECT_TRUE(hilsim::parse_number("0.8", &v));
  EXPECT_DOUBLE_EQ(v, 0.8);
  EXPECT_TRUE(hilsim::parse_number("1e3", &v));
  EXPECT_DOUBLE_EQ(v, 1000);
  for (const char* bad : {"", "x", "0.8x", "0.8 ", "1e999"}) {
    v = -1;
    EXPECT_FALSE(hilsim::parse_number(bad, &v)) << bad;
    EXPECT_EQ(v, -1) << bad;
  }
}
