#include "hilsim/runtime/memory_plan.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace hilsim::runtime {

namespace {
constexpr int64_t kAlign = 64;
int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
bool overlap_time(const BufferRequest& a, const BufferRequest& b) { return a.first <= b.last && b.first <= a.last; }
}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& req) {
  MemoryPlan plan;
  plan.offsets.assign(req.size(), 0);
  std::vector<size_t> order(req.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return req[a].bytes > req[b].bytes; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    // Intervals already taken by placed tensors that are live at the same time, sorted by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (overlap_time(req[i], req[j])) busy.emplace_back(plan.offsets[j], plan.offsets[j] + align_up(req[j].bytes));
    std::sort(busy.begin(), busy.end());
    int64_t need = align_up(req[i].bytes), at = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - at >= need) break;
      at = std::max(at, hi);
    }
    plan.offsets[i] = at;
    plan.arena_bytes = std::max(plan.arena_bytes, at + need);
    placed.push_back(i);
  }
  // Peak of live bytes per step (for comparison with the analysis' peak-activation figure).
  std::map<int, int64_t> delta;
  for (const auto& r : req) {
    delta[r.first] += r.bytes;
    delta[r.last + 1] -= r.bytes;
  }
  int64_t live = 0;
  for (const auto& [step, d] : delta) {
    live += d;
    plan.peak_live_bytes = std::max(plan.peak_live_bytes, live);
  }
  return plan;
}

bool plan_has_conflict(const std::vector<BufferRequest>& req, const MemoryPlan& plan) {
  for (size_t a = 0; a < req.size(); ++a)
    for (size_t b = a + 1; b < req.size(); ++b) {
      if (!overlap_time(req[a], req[b]) || req[a].bytes == 0 || req[b].bytes == 0) continue;
      int64_t a0 = plan.offsets[a], a1 = a0 + req[a].bytes, b0 = plan.offsets[b], b1 = b0 + req[b].bytes;
      if (a0 < b1 && b0 < a1) return true;
    }
  return false;
}

}  // namespace hilsim::runtime
