#include "hilsim/analysis/analysis.h"

#include <gtest/gtest.h>

#include "hilsim/graph/builder.h"
#include "hilsim/graph/zoo.h"

namespace hilsim::analysis {
namespace {

TEST(Analysis, ExactConvAndGemmMacs) {
  graph::GraphBuilder b("a");
  std::string x = b.input("x", {1, 6, 11, 9});
  std::string c = b.conv(x, 10, 3, 2, 2);  // groups 2: out 1x10x6x5, Cin/g = 3
  std::string fc = b.gemm(b.flatten(c), 7);
  b.output(fc);
  graph::Graph g = b.finish();
  ModelFacts m = analyze(g);
  ASSERT_EQ(m.ops.size(), 3u);
  EXPECT_EQ(m.ops[0].macs, 10 * 6 * 5 * 3 * 3 * 3);
  EXPECT_EQ(m.ops[0].params, 10 * 3 * 9 + 10);
  EXPECT_EQ(m.ops[0].bytes_written, 10 * 6 * 5 * 4);
  EXPECT_EQ(m.ops[0].bytes_read, (6 * 11 * 9 + 10 * 3 * 9 + 10) * 4);
  EXPECT_EQ(m.ops[2].macs, 300 * 7);
  EXPECT_EQ(m.macs, m.ops[0].macs + m.ops[2].macs);
  EXPECT_GT(m.ops[0].intensity, 0.0);
}

TEST(Analysis, PeakActivationFreesAfterLastUse) {
  graph::GraphBuilder b("p");
  std::string x = b.input("x", {1, 1, 10, 10});   // 400 B
  std::string r1 = b.relu(x);                      // 400 B
  std::string r2 = b.relu(r1);                     // x dead after r1, r1 dead after r2
  std::string r3 = b.add(r2, r2);
  b.output(r3);
  graph::Graph g = b.finish();
  // Step 1: x + r1 = 800; step 2: r1 + r2 = 800 (x freed); step 3: r2 + r3 = 800.
  EXPECT_EQ(analyze(g).peak_activation_bytes, 800);
}

TEST(Analysis, ZooTotalsMatchThePublishedNets) {
  // ResNet-18 at 224: 1.814 GMACs, 11.69 M params (+BN statistics).
  graph::Graph r = graph::make_zoo_model("resnet18_like");
  ModelFacts m = analyze(r);
  EXPECT_NEAR(static_cast<double>(m.macs) / 1e9, 1.814, 0.01);
  EXPECT_NEAR(static_cast<double>(m.params) / 1e6, 11.69 + 0.0192, 0.05);
  // MobileNetV2 at 224: about 300 M MACs, 3.5 M params.
  ModelFacts mb = analyze(graph::make_zoo_model("mobilenetv2_like"));
  EXPECT_NEAR(static_cast<double>(mb.macs) / 1e6, 300.8, 5.0);
}

}  // namespace
}  // namespace hilsim::analysis
