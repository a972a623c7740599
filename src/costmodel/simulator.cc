#include "hilsim/costmodel/simulator.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "hilsim/util/error.h"

namespace hilsim::costmodel {

double transfer_ms(const model::TransferSpec& t, int64_t bytes) {
  return t.latency_us * 1e-3 + static_cast<double>(bytes) / (t.gbps * 1e9) * 1e3;
}

double crossing_ms(const model::TransferSpec& t, int64_t bytes) { return t.sync_us * 1e-3 + transfer_ms(t, bytes); }

double corun_slowdown(const model::SpeedReference& ref) {
  if (ref.parallel_threads < 2 || !(ref.parallel_ms > 0) || !(ref.ms > 0)) return 0.0;
  return std::max(0.0, ref.parallel_threads * ref.parallel_ms / ref.ms - 1.0);
}

SimResult simulate(const std::vector<SimTask>& tasks, const std::vector<model::UnitSpec>& units, const model::TransferSpec& transfer,
                   bool with_trace, double corun) {
  const size_t n = tasks.size();
  std::map<std::string, double> free_at;
  for (const auto& u : units) free_at[u.id] = 0;
  if (free_at.empty()) throw Error("simulator", "no units to schedule on");

  // A crossing into or out of a gpu unit is a copy to or from the device at its own figures; between
  // CPU cores it is a hand-off through the caches at the profile's.
  std::map<std::string, const model::TransferSpec*> host_copy;
  for (const auto& u : units)
    if (u.host_transfer.gbps > 0) host_copy[u.id] = &u.host_transfer;
  // Every crossing also pays the sync term once per gpu side: the waiting unit learns of the tensor.
  auto crossing = [&](const std::string& from, const std::string& to, int64_t b) {
    auto f = host_copy.find(from), t = host_copy.find(to);
    double ms = 0;
    if (f != host_copy.end()) ms += crossing_ms(*f->second, b);
    if (t != host_copy.end()) ms += crossing_ms(*t->second, b);
    return f == host_copy.end() && t == host_copy.end() ? crossing_ms(transfer, b) : ms;
  };

  auto duration = [&](size_t i, const std::string& u) {
    auto it = tasks[i].ms_on_unit.find(u);
    if (it == tasks[i].ms_on_unit.end())
      throw Error("task '" + tasks[i].name + "'", "has no predicted time on unit '" + u + "'");
    return it->second;
  };

  for (size_t i = 0; i < n; ++i) {
    if (tasks[i].dep_bytes.size() != tasks[i].deps.size() && !tasks[i].dep_bytes.empty())
      throw Error("task '" + tasks[i].name + "'", "dep_bytes must match deps");
    for (size_t d : tasks[i].deps)
      if (d >= i) throw Error("task '" + tasks[i].name + "'", "dependencies must come earlier (topological order)");
    if (tasks[i].ms_on_unit.empty()) throw Error("task '" + tasks[i].name + "'", "has no predicted time on any unit");
  }

  SimResult r;
  r.unit.assign(n, "");
  r.start_ms.assign(n, 0);
  r.end_ms.assign(n, 0);

  auto arrival = [&](size_t i, const std::string& u, int* crossings, int64_t* bytes) {
    double t = 0;
    for (size_t k = 0; k < tasks[i].deps.size(); ++k) {
      size_t d = tasks[i].deps[k];
      double at = r.end_ms[d];
      if (r.unit[d] != u) {
        int64_t b = tasks[i].dep_bytes.empty() ? 0 : tasks[i].dep_bytes[k];
        at += crossing(r.unit[d], u, b);
        if (crossings) ++*crossings, *bytes += b;
      }
      t = std::max(t, at);
    }
    return t;
  };

  // Per unit, the intervals its tasks occupy, in time order (a unit's tasks never overlap and each
  // starts after the last ends), for the co-run slowdown.
  std::map<std::string, std::vector<std::pair<double, double>>> busy;
  // A unit's own measured co-run share (a gpu unit's, model::UnitSpec::corun_share), else `corun`.
  std::map<std::string, double> own_corun;
  bool any_corun = corun > 0;
  for (const auto& u : units)
    if (u.corun_share >= 0) own_corun[u.id] = u.corun_share, any_corun = any_corun || u.corun_share > 0;
  auto corun_of = [&](const std::string& u) {
    auto it = own_corun.find(u);
    return it == own_corun.end() ? corun : it->second;
  };
  auto others_busy = [&](const std::string& u, double a, double b) {
    double t = 0;
    for (const auto& [v, iv] : busy) {
      if (v == u) continue;
      auto it = std::lower_bound(iv.begin(), iv.end(), a, [](const std::pair<double, double>& x, double at) { return x.second <= at; });
      for (; it != iv.end() && it->first < b; ++it) t += std::min(b, it->second) - std::max(a, it->first);
    }
    return t;
  };

  // In the order given, as the executor runs each unit's steps (runtime::Executor: a unit's ops in
  // topological order, each waiting for its inputs): a task never overtakes an earlier one of its unit.
  // Picked by upward rank instead (the critical path first, as a ready queue per unit would run them),
  // YOLOv8s's and YOLOv5n's branch splits were predicted 13-15% under their runs: their CPU unit was
  // assumed to go on with later ops while it really waited for the device's head conv.
  for (size_t i = 0; i < n; ++i) {
    // Fixed unit, or (unassigned) the unit giving the earliest finish, HEFT-style.
    std::vector<std::string> candidates;
    if (!tasks[i].unit.empty()) {
      if (!free_at.count(tasks[i].unit))
        throw Error("task '" + tasks[i].name + "'", "is assigned to unit '" + tasks[i].unit + "', which the device lacks");
      candidates.push_back(tasks[i].unit);
    } else {
      for (const auto& [u, ms] : tasks[i].ms_on_unit)
        if (free_at.count(u)) candidates.push_back(u);
      if (candidates.empty()) throw Error("task '" + tasks[i].name + "'", "can run on none of the device's units");
    }
    std::string best_u;
    double best_start = 0, best_end = std::numeric_limits<double>::infinity();
    for (const auto& u : candidates) {
      double start = std::max(free_at[u], arrival(i, u, nullptr, nullptr));
      double end = start + duration(i, u);
      const double share = corun_of(u);
      if (share > 0) end += share * others_busy(u, start, end);
      if (end < best_end) best_end = end, best_start = start, best_u = u;
    }
    int crossings = 0;
    int64_t bytes = 0;
    arrival(i, best_u, &crossings, &bytes);
    r.unit[i] = best_u;
    r.start_ms[i] = best_start;
    r.end_ms[i] = best_end;
    free_at[best_u] = best_end;
    if (any_corun) busy[best_u].push_back({best_start, best_end});
    r.busy_ms[best_u] += best_end - best_start;
    r.transfers += crossings;
    r.transfer_bytes += bytes;
    for (size_t k = 0; k < tasks[i].deps.size(); ++k) {
      size_t d = tasks[i].deps[k];
      if (r.unit[d] == best_u) continue;
      int64_t b = tasks[i].dep_bytes.empty() ? 0 : tasks[i].dep_bytes[k];
      double t = crossing(r.unit[d], best_u, b);
      r.transfer_ms += t;
      if (with_trace)
        r.trace.push_back({"xfer " + tasks[d].name + " -> " + tasks[i].name, "transfer", r.unit[d] + "->" + best_u,
                         r.end_ms[d] * 1e3, t * 1e3, {{"bytes", std::to_string(b)}}});
    }
    if (with_trace) r.trace.push_back({tasks[i].name, "kernel", best_u, best_start * 1e3, (best_end - best_start) * 1e3, {}});
    r.makespan_ms = std::max(r.makespan_ms, best_end);
  }
  return r;
}

}  // namespace hilsim::costmodel
