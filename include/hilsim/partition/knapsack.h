// Layer-ratio allocation as a multiple-choice knapsack: each layer picks exactly one option (format,
// block, ratio) with a predicted latency and a kept saliency; maximise total kept saliency subject to
// total latency <= budget. Solved by dynamic programming on a latency grid: latencies rounded UP give
// a feasible solution, rounded DOWN an upper bound on the optimum, so the gap is stated, not hoped.
#pragma once

#include <cstddef>
#include <vector>

namespace hilsim::partition {

struct Option {
  double latency_ms = 0;
  double saliency = 0;  // kept saliency (higher is better)
};

struct KnapsackResult {
  bool feasible = false;
  std::vector<size_t> choice;  // option index per layer
  double latency_ms = 0;       // exact total latency of the choice
  double saliency = 0;         // total kept saliency of the choice
  double upper_bound = 0;      // no choice within the budget keeps more than this
  double gap = 0;              // (upper_bound - saliency) / upper_bound
  double min_latency_ms = 0;   // the fastest reachable total (all layers at their fastest option)
};

// `grid` = number of latency buckets (resolution = budget / grid).
KnapsackResult solve_mckp(const std::vector<std::vector<Option>>& layers, double budget_ms, size_t grid = 4000);

// Lagrangian relaxation: for a multiplier, each layer independently maximises saliency - lambda x
// latency; bisection on lambda finds the cheapest multiplier meeting the budget. Fast, and its gap to
// the DP's bound shows how much the exact solver buys.
KnapsackResult solve_lagrangian(const std::vector<std::vector<Option>>& layers, double budget_ms);

}  // namespace hilsim::partition
