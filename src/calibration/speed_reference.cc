#include "hilsim/calibration/speed_reference.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

// A small CNN's kernels, about 2 ms on one thread of a desktop core: dense 3x3 convs (one strided),
// a 1x1, a depthwise 3x3, a block-sparse 3x3, a residual add, a max pool and a classifier GEMM, as the
// models being predicted. Kernels, not a graph, so the standalone phone calibrator can time it too.
std::vector<KernelPoint> reference_points() {
  auto conv = [](int64_t c, int64_t f, int64_t hw, int64_t k, int64_t stride, int64_t groups) {
    KernelPoint p;
    p.op = "conv", p.c = c, p.f = f, p.h = p.w = hw, p.k = k, p.stride = stride, p.groups = groups, p.act = 1;
    return p;
  };
  std::vector<KernelPoint> v = {conv(32, 32, 48, 3, 1, 1), conv(32, 64, 48, 3, 2, 1), conv(64, 64, 24, 3, 1, 1),
                                conv(64, 128, 24, 1, 1, 1), conv(96, 96, 24, 3, 1, 96)};
  KernelPoint sparse = conv(64, 64, 24, 3, 1, 1);
  sparse.format = "block", sparse.bf = 8, sparse.bc = 4, sparse.ratio = 0.7;
  v.push_back(sparse);
  KernelPoint add;
  add.op = "add", add.c = 64, add.h = add.w = 24;
  KernelPoint pool;
  pool.op = "maxpool", pool.c = 32, pool.h = pool.w = 48, pool.k = 3, pool.stride = 2;
  KernelPoint gemm;
  gemm.op = "gemm", gemm.c = 256, gemm.f = 1000;
  v.push_back(add), v.push_back(pool), v.push_back(gemm);
  return v;
}

}  // namespace

std::string speed_reference_workload() {
  return "kernel mix v1 (conv3x3 x3, conv1x1, depthwise3x3, block8x4@0.7, add, maxpool, gemm), 1 thread";
}

bool speed_reference_comparable(const model::DeviceInfo& profiled) {
  const std::string& w = profiled.speed_reference.workload;
  const std::string mix = speed_reference_workload();
  const std::string legacy = ", kernels-";
  const bool same_workload =
      w == mix || (w.compare(0, mix.size(), mix) == 0 && w.compare(mix.size(), legacy.size(), legacy) == 0 &&
                   w.size() > mix.size() + legacy.size() &&
                   w.find_first_not_of("0123456789", mix.size() + legacy.size()) == std::string::npos);
  return same_workload && (profiled.kernels.empty() || profiled.kernels == build_kernels_digest());
}

struct SpeedReferenceRun::State {
  explicit State(int threads) : seq(reference_points(), threads) {}
  KernelSequence seq;
};

SpeedReferenceRun::SpeedReferenceRun(int threads) : s_(std::make_unique<State>(threads)) {}

SpeedReferenceRun::~SpeedReferenceRun() = default;

std::vector<double> SpeedReferenceRun::time(int runs) { return s_->seq.time(runs); }

Sample speed_reference_sample(const std::vector<double>& runs, double t_unix, int seq, int threads) {
  Sample s;
  s.klass = kSpeedReferenceClass;
  // One-thread readings keep their old names: samples files written before parallel readings resume.
  s.instance = std::string(kSpeedReferenceClass) + "/" + (threads > 1 ? "t" + std::to_string(threads) + "/" : "") +
               std::to_string(seq);
  s.features = {{"threads", static_cast<double>(std::max(1, threads))}, {"t_unix", t_unix}};
  s.ms_median = quantile(runs, 0.5);
  s.ms_p10 = quantile(runs, 0.1);
  s.ms_p90 = quantile(runs, 0.9);
  s.repeats = static_cast<int>(runs.size());
  return s;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

double stamp(const Sample& s) {
  auto it = s.features.find("t_unix");
  return it == s.features.end() ? -1.0 : it->second;
}

// The readings at `threads` in time order, those without a stamp or a time left out.
std::vector<const Sample*> readings_of(const std::vector<Sample>& samples, int threads = 1) {
  std::vector<const Sample*> r;
  for (const Sample& s : samples)
    if (s.klass == kSpeedReferenceClass && sample_threads(s) == threads && stamp(s) > 0 && fit_ms(s) > 0) r.push_back(&s);
  std::stable_sort(r.begin(), r.end(), [](const Sample* a, const Sample* b) { return stamp(*a) < stamp(*b); });
  return r;
}

// Each reading as the median of itself and its neighbours: a 0.1 s reading that disagrees with both
// is a burst (this host also flips between two speeds 1.6x apart within seconds), not the trend the
// samples between readings followed; scaling by it moved samples by up to 0.57x.
std::vector<double> levels_of(const std::vector<const Sample*>& r) {
  std::vector<double> level(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    std::vector<double> w = {fit_ms(*r[i])};
    if (i > 0) w.push_back(fit_ms(*r[i - 1]));
    if (i + 1 < r.size()) w.push_back(fit_ms(*r[i + 1]));
    level[i] = w.size() == 3 ? quantile(w, 0.5) : fit_ms(*r[i]);
  }
  return level;
}

// The host's undisturbed speed over a calibration: a low quantile of the smoothed levels, not their
// median. On a host that flips between a fast and a slow phase the median lands on whichever phase
// happened to last longer (two calibrations minutes apart put it at 8.5 and 9.0 ms between phases of
// 5.5 and 10 ms), and every sample scaled to it moved with that accident. The samples' own statistic
// (p10) and bench-predictor's ground truth both aim at the undisturbed machine too.
double fast_level(const std::vector<double>& level, const CalibrationPolicy& policy) {
  return quantile(level, policy.fast_level_quantile);
}

model::SpeedReference summarize(const std::vector<const Sample*>& r, const CalibrationPolicy& policy) {
  model::SpeedReference out;
  if (r.empty()) return out;
  std::vector<double> ms, spread;
  for (const Sample* s : r) {
    ms.push_back(fit_ms(*s));
    spread.push_back(s->ms_p90 / fit_ms(*s));
  }
  out.workload = speed_reference_workload();
  out.ms = fast_level(levels_of(r), policy);
  out.spread = quantile(spread, 0.5);
  out.drift = ms.front() > 0 ? ms.back() / ms.front() - 1.0 : 0.0;
  return out;
}

}  // namespace

model::SpeedReference summarize_speed_reference(const std::vector<Sample>& readings,
                                                     const CalibrationPolicy& policy) {
  model::SpeedReference out = summarize(readings_of(readings), policy);
  int most = 1;
  for (const Sample& s : readings)
    if (s.klass == kSpeedReferenceClass) most = std::max(most, sample_threads(s));
  if (most > 1 && !out.workload.empty()) {
    const std::vector<const Sample*> par = readings_of(readings, most);
    if (!par.empty()) out.parallel_threads = most, out.parallel_ms = fast_level(levels_of(par), policy);
  }
  return out;
}

std::vector<double> host_factors(const SampleSet& in, DriftCorrection* info, const CalibrationPolicy& policy) {
  std::vector<double> f(in.samples.size(), 1.0);
  DriftCorrection d;
  const std::vector<const Sample*> r = readings_of(in.samples);
  d.readings = static_cast<int>(r.size());
  const std::vector<double> level = levels_of(r);
  const double target = r.empty() ? 0 : fast_level(level, policy);
  if (r.size() >= 2 && target > 0) {
    d.min_factor = 1e300, d.max_factor = 0;
    for (size_t i = 0; i < in.samples.size(); ++i) {
      const Sample& s = in.samples[i];
      const double t = stamp(s);
      if (t <= 0 || s.klass == kSpeedReferenceClass) continue;
      // The reading at t, linear between its neighbours, the nearest one outside them.
      size_t j = 0;
      while (j + 1 < r.size() && stamp(*r[j + 1]) < t) ++j;
      double ref = level[j];
      if (j + 1 < r.size() && t > stamp(*r[j])) {
        const double t0 = stamp(*r[j]), t1 = stamp(*r[j + 1]);
        const double a = t1 > t0 ? std::min(1.0, (t - t0) / (t1 - t0)) : 0.0;
        ref = (1 - a) * level[j] + a * level[j + 1];
      }
      f[i] = ref / target;
      d.min_factor = std::min(d.min_factor, f[i]), d.max_factor = std::max(d.max_factor, f[i]);
      ++d.corrected;
    }
    if (!d.corrected) d.min_factor = d.max_factor = 1;
  }
  if (info) *info = d;
  return f;
}

SampleSet scale_by_host(const SampleSet& in, const std::vector<double>& factors, double exponent) {
  if (factors.size() != in.samples.size())
    throw Error("drift correction", "factors for " + std::to_string(factors.size()) + " samples given for " +
                                        std::to_string(in.samples.size()));
  SampleSet out = in;
  for (size_t i = 0; i < out.samples.size(); ++i) out.samples[i] = scale_by_host(in.samples[i], factors[i], exponent);
  return out;
}

Sample scale_by_host(const Sample& in, double factor, double exponent) {
  const double f = std::pow(factor, exponent);
  Sample s = in;
  s.ms_median /= f, s.ms_p10 /= f, s.ms_p90 /= f;
  return s;
}

double host_parallel_slowdown(const model::DeviceInfo& profiled, int threads, double now_ms) {
  const model::SpeedReference& r = profiled.speed_reference;
  if (!speed_reference_comparable(profiled) || threads < 2 || r.parallel_threads != threads || !(r.parallel_ms > 0) ||
      !(now_ms > 0))
    return 0;
  return now_ms / r.parallel_ms;
}

bool slow_phase(const std::vector<double>& readings, const CalibrationPolicy& policy) {
  if (readings.size() < 3) return false;
  return readings.back() > policy.slow_phase_ratio * quantile(readings, policy.fast_level_quantile);
}

double host_slowdown(const model::DeviceInfo& profiled, double now_ms) {
  const model::SpeedReference& r = profiled.speed_reference;
  if (!speed_reference_comparable(profiled) || !(r.ms > 0) || !(now_ms > 0)) return 0;
  return now_ms / r.ms;
}

}  // namespace hilsim::calibration
