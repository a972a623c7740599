#include "hilsim/partition/knapsack.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"

namespace hilsim::partition {

namespace {

constexpr double kNeg = -std::numeric_limits<double>::infinity();

// A budget equal to the fastest choice (a dense plan asked for at speed-up 1) must stay feasible: the
// same latencies summed in another order differ in the last bits.
bool over_budget(double latency_ms, double budget_ms) { return latency_ms > budget_ms * (1 + 1e-9); }

// Best saliency per latency bucket with per-option bucket costs given by `cost`; fills the choice
// table when `keep` is true. Returns dp over buckets [0, grid].
std::vector<double> run_dp(const std::vector<std::vector<Option>>& layers, size_t grid,
                           const std::vector<std::vector<size_t>>& cost, std::vector<std::vector<int>>* pick) {
  std::vector<double> dp(grid + 1, kNeg), next(grid + 1);
  dp[0] = 0;
  if (pick) pick->assign(layers.size(), std::vector<int>(grid + 1, -1));
  for (size_t i = 0; i < layers.size(); ++i) {
    std::fill(next.begin(), next.end(), kNeg);
    for (size_t b = 0; b <= grid; ++b) {
      if (dp[b] == kNeg) continue;
      for (size_t j = 0; j < layers[i].size(); ++j) {
        size_t nb = b + cost[i][j];
        if (nb > grid) continue;
        double v = dp[b] + layers[i][j].saliency;
        if (v > next[nb]) {
          next[nb] = v;
          if (pick) (*pick)[i][nb] = static_cast<int>(j);
        }
      }
    }
    dp.swap(next);
  }
  return dp;
}

void finish(const std::vector<std::vector<Option>>& layers, KnapsackResult* r) {
  r->latency_ms = 0;
  r->saliency = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    r->latency_ms += layers[i][r->choice[i]].latency_ms;
    r->saliency += layers[i][r->choice[i]].saliency;
  }
  r->gap = r->upper_bound > 0 ? std::max(0.0, (r->upper_bound - r->saliency) / r->upper_bound) : 0;
}

double fastest(const std::vector<std::vector<Option>>& layers) {
  double t = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].empty()) throw Error("layer " + std::to_string(i), "has no option to choose from");
    double m = std::numeric_limits<double>::infinity();
    for (const auto& o : layers[i]) {
      if (!(o.latency_ms >= 0) || !std::isfinite(o.latency_ms))
        throw Error("layer " + std::to_string(i), "has an option with an invalid latency");
      m = std::min(m, o.latency_ms);
    }
    t += m;
  }
  return t;
}

}  // namespace

KnapsackResult solve_mckp(const std::vector<std::vector<Option>>& layers, double budget_ms, size_t grid) {
  KnapsackResult r;
  r.min_latency_ms = fastest(layers);
  if (layers.empty()) {
    r.feasible = true;
    return r;
  }
  if (!(budget_ms > 0) || over_budget(r.min_latency_ms, budget_ms)) return r;
  grid = std::max<size_t>(grid, 16);
  double step = budget_ms / static_cast<double>(grid);
  std::vector<std::vector<size_t>> up(layers.size()), down(layers.size());
  for (size_t i = 0; i < layers.size(); ++i)
    for (const auto& o : layers[i]) {
      double q = o.latency_ms / step;
      // Rounding up can only overstate latency (a feasible answer); down only understates (a bound).
      up[i].push_back(static_cast<size_t>(std::min<double>(std::ceil(q - 1e-9), grid + 1.0)));
      down[i].push_back(static_cast<size_t>(std::min<double>(std::floor(q + 1e-9), grid + 1.0)));
    }
  std::vector<std::vector<int>> pick;
  std::vector<double> dp = run_dp(layers, grid, up, &pick);
  std::vector<double> bound = run_dp(layers, grid, down, nullptr);
  r.upper_bound = *std::max_element(bound.begin(), bound.end());
  size_t best = 0;
  for (size_t b = 0; b <= grid; ++b)
    if (dp[b] > dp[best]) best = b;
  if (dp[best] == kNeg) {
    // The rounded-up grid lost feasibility at this resolution; the Lagrangian answer still holds.
    KnapsackResult l = solve_lagrangian(layers, budget_ms);
    l.upper_bound = std::max(l.upper_bound, r.upper_bound);
    finish(layers, &l);
    return l;
  }
  r.feasible = true;
  r.choice.assign(layers.size(), 0);
  for (size_t i = layers.size(); i-- > 0;) {
    int j = pick[i][best];
    r.choice[i] = static_cast<size_t>(j);
    best -= up[i][j];
  }
  finish(layers, &r);
  return r;
}

KnapsackResult solve_lagrangian(const std::vector<std::vector<Option>>& layers, double budget_ms) {
  KnapsackResult r;
  r.min_latency_ms = fastest(layers);
  if (over_budget(r.min_latency_ms, budget_ms)) return r;
  auto choose = [&](double lambda, std::vector<size_t>* c) {
    double lat = 0;
    c->assign(layers.size(), 0);
    for (size_t i = 0; i < layers.size(); ++i) {
      double best = kNeg;
      for (size_t j = 0; j < layers[i].size(); ++j) {
        const Option& o = layers[i][j];
        double v = o.saliency - lambda * o.latency_ms;
        // Ties go to the faster option so a large lambda always reaches the fastest configuration.
        if (v > best || (v == best && o.latency_ms < layers[i][(*c)[i]].latency_ms)) best = v, (*c)[i] = j;
      }
      lat += layers[i][(*c)[i]].latency_ms;
    }
    return lat;
  };
  double lo = 0, hi = 1;
  std::vector<size_t> c;
  while (choose(hi, &c) > budget_ms && hi < 1e12) hi *= 2;
  if (choose(0, &c) <= budget_ms) {
    hi = 0;
  } else {
    for (int it = 0; it < 100; ++it) {
      double mid = 0.5 * (lo + hi);
      if (choose(mid, &c) <= budget_ms) hi = mid; else lo = mid;
    }
  }
  choose(hi, &c);
  r.feasible = true;
  r.choice = c;
  // Lagrangian dual bound: for any lambda >= 0, max sum(s - lambda l) + lambda B >= optimum.
  std::vector<size_t> tmp;
  double dual = 0;
  choose(hi, &tmp);
  for (size_t i = 0; i < layers.size(); ++i) {
    double best = kNeg;
    for (const auto& o : layers[i]) best = std::max(best, o.saliency - hi * o.latency_ms);
    dual += best;
  }
  r.upper_bound = dual + hi * budget_ms;
  finish(layers, &r);
  return r;
}

}  // namespace hilsim::partition
