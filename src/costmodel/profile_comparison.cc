#include "hilsim/costmodel/profile_comparison.h"

#include <algorithm>
#include <cmath>

#include "hilsim/util/error.h"

namespace hilsim::costmodel {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double rel(double a, double b) { return a > 0 ? (b - a) / a : (b > 0 ? INFINITY : 0); }

// Fills the summaries from configs and op_diffs.
void summarize(ProfileComparison& c) {
  std::vector<double> abs_raw, abs_host;
  for (const auto& d : c.configs) abs_raw.push_back(std::fabs(d.diff)), abs_host.push_back(std::fabs(d.diff_host));
  c.max_abs_diff = abs_raw.empty() ? 0 : *std::max_element(abs_raw.begin(), abs_raw.end());
  c.max_abs_diff_host = abs_host.empty() ? 0 : *std::max_element(abs_host.begin(), abs_host.end());
  c.median_abs_diff = median(abs_raw);
  c.median_abs_diff_host = median(abs_host);
  std::map<int, std::vector<double>> raw_t, host_t;
  for (const auto& d : c.configs) raw_t[d.threads].push_back(std::fabs(d.diff)), host_t[d.threads].push_back(std::fabs(d.diff_host));
  for (const auto& [t, v] : raw_t) {
    ThreadsDifference& td = c.by_threads[t];
    td.configs = v.size();
    td.median_abs_diff = median(v);
    td.max_abs_diff = *std::max_element(v.begin(), v.end());
    td.median_abs_diff_host = median(host_t[t]);
  }
  c.classes.clear();
  for (const auto& [k, ds] : c.op_diffs) {
    std::vector<double> a;
    for (double d : ds) a.push_back(std::fabs(d));
    ClassDifference& cd = c.classes[k];
    cd.ops = ds.size();
    cd.median_abs_diff = median(a);
    cd.median_diff = median(ds);
    cd.max_abs_diff = a.empty() ? 0 : *std::max_element(a.begin(), a.end());
  }
}

}  // namespace

double host_ratio(const model::Profile& a, const model::Profile& b, int threads, bool* parallel_reading) {
  if (parallel_reading) *parallel_reading = false;
  const model::SpeedReference &ra = a.device.speed_reference, &rb = b.device.speed_reference;
  if (ra.workload.empty() || ra.workload != rb.workload || !(ra.ms > 0) || !(rb.ms > 0)) return 0;
  if (threads > 1 && ra.parallel_threads == threads && rb.parallel_threads == threads && ra.parallel_ms > 0 &&
      rb.parallel_ms > 0) {
    if (parallel_reading) *parallel_reading = true;
    return rb.parallel_ms / ra.parallel_ms;
  }
  return rb.ms / ra.ms;
}

ProfileComparison compare_profiles(const graph::Graph& model, const model::Profile& a, const model::Profile& b,
                                   const std::vector<ComparedConfig>& configs, const std::vector<int>& threads,
                                   PredictorOptions opts) {
  ProfileComparison out;
  out.host_ratio = host_ratio(a, b);
  for (int t : threads) {
    const double ratio = host_ratio(a, b, t, &out.by_threads[t].parallel_reading);
    out.by_threads[t].host_ratio = ratio;
    const double scale = ratio > 0 ? ratio : 1.0;
    PredictorOptions o = opts;
    o.threads = t;
    Predictor pa(model, a, o), pb(model, b, o);
    for (const ComparedConfig& c : configs) {
      Prediction xa, xb;
      try {
        xa = pa.predict(c.spec);
        xb = pb.predict(c.spec);
      } catch (const Error& e) {
        throw Error("config '" + c.name + "' at " + std::to_string(t) + " thread(s)", e.what());
      }
      out.configs.push_back({c.name, t, xa.ms, xb.ms, rel(xa.ms, xb.ms), rel(xa.ms, xb.ms / scale)});
      // Both tables list the same ops in the same (topological) order: the graph and config are shared.
      for (size_t i = 0; i < xa.ops.size() && i < xb.ops.size(); ++i)
        if (xa.ops[i].ms > 0) out.op_diffs[xa.ops[i].klass].push_back(rel(xa.ops[i].ms, xb.ops[i].ms));
    }
  }
  summarize(out);
  return out;
}

ProfileComparison merge_comparisons(const std::vector<ProfileComparison>& parts) {
  ProfileComparison out;
  for (const auto& p : parts) {
    out.configs.insert(out.configs.end(), p.configs.begin(), p.configs.end());
    for (const auto& [k, ds] : p.op_diffs) out.op_diffs[k].insert(out.op_diffs[k].end(), ds.begin(), ds.end());
    out.host_ratio = p.host_ratio;  // the same pair of profiles throughout
    for (const auto& [t, td] : p.by_threads)
      out.by_threads[t].host_ratio = td.host_ratio, out.by_threads[t].parallel_reading = td.parallel_reading;
  }
  summarize(out);
  return out;
}

}  // namespace hilsim::costmodel
