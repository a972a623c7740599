#include "hilsim/runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <random>

#include "hilsim/runtime/units.h"
#include "hilsim/util/error.h"

using namespace hilsim::runtime;

TEST(MemoryPlan, ChainReusesMemory) {
  // a -> b -> c -> d: only two neighbours are ever live together.
  std::vector<BufferRequest> r = {{"a", 1000, -1, 0}, {"b", 1000, 0, 1}, {"c", 1000, 1, 2}, {"d", 1000, 2, 1 << 20}};
  auto p = plan_memory(r);
  EXPECT_FALSE(plan_has_conflict(r, p));
  EXPECT_LE(p.arena_bytes, 2 * 1024);
  EXPECT_EQ(p.peak_live_bytes, 2000);
}

TEST(MemoryPlan, RandomLifetimesNeverConflict) {
  std::mt19937 rng(9);
  for (int t = 0; t < 50; ++t) {
    std::vector<BufferRequest> r;
    for (int i = 0; i < 40; ++i) {
      int a = static_cast<int>(rng() % 30), len = static_cast<int>(rng() % 8);
      r.push_back({"t" + std::to_string(i), static_cast<int64_t>(rng() % 5000 + 1), a, a + len});
    }
    auto p = plan_memory(r);
    ASSERT_FALSE(plan_has_conflict(r, p));
    EXPECT_GE(p.arena_bytes, p.peak_live_bytes);
  }
}

TEST(Units, ParseAndReject) {
  auto u = parse_units("cpu0:0,cpu1:1", 2);
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[1].cpus, std::vector<int>{1});
  EXPECT_EQ(parse_units("big:0-1", 2)[0].cpus.size(), 2u);
  for (const char* bad : {"cpu0:0,cpu1:0", "cpu0:7", "cpu0", "cpu0:x", "cpu0:0,cpu0:1", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_units(bad, 2), hilsim::Error);
  }
}
