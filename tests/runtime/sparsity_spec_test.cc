#include "hilsim/runtime/sparsity_spec.h"

#include <gtest/gtest.h>

#include "hilsim/util/error.h"

using namespace hilsim::runtime;

TEST(SparsitySpec, UniformForms) {
  auto b = parse_layer_spec("block:8x4@0.8");
  EXPECT_EQ(b.format, Format::kBlock);
  EXPECT_EQ(b.bf, 8);
  EXPECT_EQ(b.bc, 4);
  EXPECT_DOUBLE_EQ(b.ratio, 0.8);
  auto p = parse_layer_spec("pattern:2");
  EXPECT_EQ(p.format, Format::kPattern);
  EXPECT_NEAR(p.ratio, 7.0 / 9.0, 1e-12);
  EXPECT_EQ(parse_layer_spec("pattern:3ep").entries, 3);
  EXPECT_DOUBLE_EQ(parse_layer_spec("csr@0.9").ratio, 0.9);
  EXPECT_EQ(parse_layer_spec("block_col:16x1@0.5").format, Format::kBlockCol);
  EXPECT_EQ(layer_spec_str(b), "block:8x4@0.8");
}

TEST(SparsitySpec, BadSpecsNameTheProblem) {
  for (const char* bad : {"block:8x3@0.8", "block:8x4", "block:8@0.5", "pattern:4", "csr@1.5", "csr@x", "weird@0.5",
                          "block:64x4@0.5"}) {
    SCOPED_TRACE(bad);
    try {
      parse_sparsity_spec(bad);
      FAIL() << "accepted";
    } catch (const hilsim::Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(SparsitySpec, JsonPerLayer) {
  auto s = parse_sparsity_json(R"({"conv1":{"format":"block","block":[8,4],"ratio":0.7},
                                   "conv2":{"format":"pattern","entries":3,"unit":"cpu1"},
                                   "fc":{"format":"csr","ratio":0.9}})",
                               "s.json");
  EXPECT_EQ(s.for_op("conv1")->bf, 8);
  EXPECT_EQ(s.for_op("conv2")->unit, "cpu1");
  EXPECT_FALSE(s.for_op("other").has_value());
  try {
    parse_sparsity_json(R"({"conv1":{"format":"block","block":[8,4]}})", "s.json");
    FAIL();
  } catch (const hilsim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.ratio"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_sparsity_spec("/no/such/file.json"), hilsim::Error);
}

TEST(SparsitySpec, HugeNumbersAreABadSpecNotACrash) {
  // Found by the sparsity fuzzer: std::stoi's out_of_range ended the process.
  EXPECT_THROW(parse_layer_spec("block:66666666666666666666666666666668x4@0.8"), hilsim::Error);
  EXPECT_THROW(parse_layer_spec("pattern:99999999999"), hilsim::Error);
}

TEST(SparsitySpec, JsonSizesBeyondIntAreRefusedNotTruncated) {
  // 4294967304 as an int is 8: it must be refused, not read as a block of 8.
  EXPECT_THROW(parse_sparsity_json(R"({"c": {"format": "block", "block": [4294967304, 4], "ratio": 0.5}})", "s.json"),
               hilsim::Error);
  EXPECT_THROW(parse_sparsity_json(R"({"c": {"format": "pattern", "entries": 4294967298}})", "s.json"), hilsim::Error);
}
