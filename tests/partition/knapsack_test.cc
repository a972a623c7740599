#include "hilsim/partition/knapsack.h"

#include <gtest/gtest.h>

#include <random>

using namespace hilsim::partition;

namespace {

// Exhaustive optimum for small instances: the ground truth the solvers are checked against.
double brute_force(const std::vector<std::vector<Option>>& L, double budget) {
  double best = -1;
  std::vector<size_t> c(L.size(), 0);
  for (;;) {
    double lat = 0, sal = 0;
    for (size_t i = 0; i < L.size(); ++i) lat += L[i][c[i]].latency_ms, sal += L[i][c[i]].saliency;
    if (lat <= budget) best = std::max(best, sal);
    size_t i = 0;
    while (i < L.size() && ++c[i] == L[i].size()) c[i++] = 0;
    if (i == L.size()) break;
  }
  return best;
}

std::vector<std::vector<Option>> random_instance(std::mt19937& rng, int layers, int options) {
  std::uniform_real_distribution<double> u(0.1, 5.0), s(0.0, 1.0);
  std::vector<std::vector<Option>> L(layers);
  for (auto& l : L)
    for (int j = 0; j < options; ++j) l.push_back({u(rng), s(rng)});
  return L;
}

}  // namespace

TEST(Knapsack, DpMatchesBruteForceWithinItsStatedGap) {
  std::mt19937 rng(11);
  int exact = 0, solved = 0;
  for (int t = 0; t < 30; ++t) {
    auto L = random_instance(rng, 5, 4);
    double budget = 8.0;
    double opt = brute_force(L, budget);
    auto r = solve_mckp(L, budget, 8000);
    if (opt < 0) {
      EXPECT_FALSE(r.feasible);
      continue;
    }
    ASSERT_TRUE(r.feasible);
    EXPECT_LE(r.latency_ms, budget + 1e-9);
    EXPECT_LE(r.saliency, opt + 1e-9);        // never better than the true optimum
    EXPECT_GE(r.upper_bound, opt - 1e-9);     // the bound really bounds it
    EXPECT_GE(r.saliency, opt * (1 - r.gap) - 1e-9);
    // The bound can be loose (combinations just over the budget fit once rounded down), but the
    // answer itself must almost always be the true optimum at this resolution.
    ++solved;
    if (std::abs(r.saliency - opt) < 1e-9) ++exact;
  }
  EXPECT_GE(exact, solved - 1);
}

TEST(Knapsack, InfeasibleReportsTheFastestReachable) {
  std::vector<std::vector<Option>> L = {{{2, 1}, {1, 0.5}}, {{3, 1}, {2, 0.2}}};
  auto r = solve_mckp(L, 2.5);
  EXPECT_FALSE(r.feasible);
  EXPECT_DOUBLE_EQ(r.min_latency_ms, 3.0);
}

TEST(Knapsack, ABudgetEqualToTheFastestChoiceIsFeasible) {
  // 0.1 + 0.2 + 0.3 is 0.6000000000000001 summed in this order and 0.6 in the reverse one: a planner that
  // asks for the dense latency (speed-up 1) from another sum must still get a plan.
  std::vector<std::vector<Option>> L = {{{0.1, 1}}, {{0.2, 1}}, {{0.3, 1}}};
  const double budget = 0.3 + 0.2 + 0.1;
  ASSERT_LT(budget, 0.1 + 0.2 + 0.3);
  EXPECT_TRUE(solve_mckp(L, budget).feasible);
  EXPECT_TRUE(solve_lagrangian(L, budget).feasible);
}

TEST(Knapsack, LagrangianIsFeasibleAndBounded) {
  std::mt19937 rng(5);
  for (int t = 0; t < 20; ++t) {
    auto L = random_instance(rng, 6, 3);
    double budget = 10.0;
    double opt = brute_force(L, budget);
    auto r = solve_lagrangian(L, budget);
    if (opt < 0) continue;
    ASSERT_TRUE(r.feasible);
    EXPECT_LE(r.latency_ms, budget + 1e-9);
    EXPECT_LE(r.saliency, opt + 1e-9);
    EXPECT_GE(r.upper_bound, opt - 1e-6);
  }
}
