#include "hilsim/calibration/driver.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <filesystem>
#include <thread>

#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/energy_calibration.h"
#include "hilsim/calibration/energy_counter.h"
#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/roofline.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string utc_now() {
  char b[32];
  std::time_t t = std::time(nullptr);
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return b;
}

}  // namespace

struct CalibrationDriver::Readings {
  explicit Readings(int max_threads) {
    if (max_threads > 1) parallel = std::make_unique<SpeedReferenceRun>(max_threads);
  }
  Clock::time_point t0 = Clock::now();
  SpeedReferenceRun single;
  std::unique_ptr<SpeedReferenceRun> parallel;  // all calibrated threads: their samples need the other cores free
  int seq = 0;                                  // a resumed set continues its readings
  double last_s = -1e300;
  double spent_s = 0;  // reading time, left out of a tiny run's budget (under an emulator a reading takes ~1 s)
  std::map<int, std::vector<double>> ms;  // p10 of every reading so far by thread count, for slow_phase()
};

CalibrationDriver::CalibrationDriver(MeasureBackend& backend, const DriverOptions& o) : backend_(backend), o_(o), pol_(o.policy) {
  if (o_.samples_path.empty()) throw Error("calibrate", "an output samples path is required");
  if (!(o_.budget_s > 0)) throw Error("--budget-s", "must be positive");
  const bool all = o_.classes.empty();
  if (all) classes_ = calibration_classes();
  want_transfer_ = all;
  for (const auto& c : o_.classes) {
    check_kernel_class(c);
    if (c == "transfer") want_transfer_ = true;
    else classes_.push_back(c);
  }
  {
    // Fail before minutes of measurement, not after: create the samples' directory and check that it takes files.
    namespace fs = std::filesystem;
    const fs::path dir = fs::absolute(fs::path(o_.samples_path)).parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(o_.samples_path, "cannot create its directory " + dir.string() + ": " + ec.message());
    if (::access(dir.c_str(), W_OK) != 0) throw Error(o_.samples_path, "its directory " + dir.string() + " is not writable");
  }
  if (o_.tiny) {  // emulators run ~100x slower: small instances, no waiting for fast phases
    pol_.max_sample_macs = 200'000;
    pol_.max_sample_elements = 8'000;
    pol_.slow_phase_max_tries = 0;
  }
  SampleSet& set = r_.samples;
  if (o_.resume && std::filesystem::exists(o_.samples_path)) {
    set = load_samples(o_.samples_path);
    // Samples of other kernels would be fitted into one profile with these: start afresh instead.
    if (const std::string why = samples_kernels_mismatch(set, build_kernels_digest()); !why.empty())
      throw Error(o_.samples_path, "cannot resume: its samples were " + why +
                                       " (timings of other kernels would give a wrong profile); calibrate without --resume");
    for (size_t i = 0; i < set.samples.size(); ++i) {
      const Sample& s = set.samples[i];
      index_[s.instance] = i;
      done_.insert(s.instance);
      // An in-context run is done when any of its layers is.
      if (s.instance.rfind("ctx/", 0) == 0) done_.insert(s.instance.substr(0, s.instance.rfind('/')));
    }
  }
  set.device = detect_device();
  set.device.calibrated_at = utc_now();
  if (!o_.note.empty()) set.note = o_.note;
  cores_ = std::max(1, kernels::ThreadPool::hardware_threads());
  max_threads_ = o_.max_threads > 0 ? std::min(o_.max_threads, cores_) : cores_;
  for (const auto& c : classes_)
    for (int t = 1; t <= max_threads_; ++t) cells_.emplace_back(c, t);
  // The host's speed now and at the end, on a fixed workload: later checks compare with it, and a
  // large drift between the two says the samples were taken on a moving machine. In between, a
  // shorter reading every reading_every_s lets the fit correct for the drift (a phone heating up).
  const auto prepared = Clock::now();
  readings_ = std::make_unique<Readings>(max_threads_);
  readings_->t0 = prepared;
  readings_->spent_s += secs(prepared, Clock::now());
  for (const Sample& s : set.samples)
    if (s.klass == kSpeedReferenceClass) {
      ++readings_->seq;
      readings_->ms[sample_threads(s)].push_back(fit_ms(s));
    }
  take_reading(o_.tiny ? 1 : pol_.reference_runs);
}

CalibrationDriver::~CalibrationDriver() = default;

double CalibrationDriver::elapsed_s() const {
  return secs(readings_->t0, Clock::now()) - (o_.tiny ? readings_->spent_s : 0.0);
}

void CalibrationDriver::progress(const std::string& what) const {
  if (o_.progress) o_.progress(std::min(o_.budget_s, elapsed_s()), o_.budget_s, what);
}

void CalibrationDriver::take_reading(int runs) {
  if (stopped()) return;
  Readings& rd = *readings_;
  SampleSet& set = r_.samples;
  const auto r0 = Clock::now();
  set.samples.push_back(speed_reference_sample(rd.single.time(runs), unix_now(), rd.seq++));
  rd.ms[1].push_back(fit_ms(set.samples.back()));
  if (rd.parallel) {
    set.samples.push_back(speed_reference_sample(rd.parallel->time(runs), unix_now(), rd.seq++, max_threads_));
    rd.ms[max_threads_].push_back(fit_ms(set.samples.back()));
  }
  rd.spent_s += secs(r0, Clock::now());
  rd.last_s = secs(rd.t0, Clock::now());
  set.device.speed_reference = summarize_speed_reference(set.samples, pol_);
}

bool CalibrationDriver::in_slow_phase() const {
  for (const auto& [t, ms] : readings_->ms)
    if (slow_phase(ms, pol_)) return true;
  return false;
}

// In a slow phase of the host, wait (re-reading) for the fast one before measuring on: samples of one
// class taken in both phases do not fit one model, and the mix differs from one calibration to the
// next. Waiting is capped, so a host slow throughout (a throttled phone) is still measured.
void CalibrationDriver::wait_for_fast_phase() {
  for (int tries = 0; tries < pol_.slow_phase_max_tries && in_slow_phase() && !stopped() &&
                      r_.waited_s < pol_.slow_phase_max_wait_share * o_.budget_s;
       ++tries) {
    const auto w0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(pol_.slow_phase_poll_s));
    take_reading(pol_.short_reference_runs);
    r_.waited_s += secs(w0, Clock::now());
    progress("waiting: host in a slow phase");
  }
}

void CalibrationDriver::reading_then_wait() {
  take_reading(pol_.short_reference_runs);
  wait_for_fast_phase();
}

void CalibrationDriver::reading_if_due() {
  if (o_.tiny) return;  // under an emulator a reading costs ~100x: one at the start and one at the end
  if (secs(readings_->t0, Clock::now()) - readings_->last_s > pol_.reading_every_s) reading_then_wait();
}

void CalibrationDriver::checkpoint() { save_samples(r_.samples, o_.samples_path); }

void CalibrationDriver::add(Sample s) {
  if (!s.features.count("t_unix")) s.features["t_unix"] = unix_now();
  done_.insert(s.instance);
  const std::string what = s.instance;
  auto& all = r_.samples.samples;
  if (auto it = index_.find(s.instance); it != index_.end() && s.klass != kSpeedReferenceClass) {
    all[it->second] = merge_sample(all[it->second], s);  // a later visit of the same instance
  } else {
    index_[s.instance] = all.size();
    all.push_back(std::move(s));
    ++r_.measured;
  }
  reading_if_due();
  if (++since_save_ >= o_.checkpoint_every) checkpoint(), since_save_ = 0;
  progress(what);
}

void CalibrationDriver::measure_point(const KernelPoint& p) {
  known_[p.key()] = p;
  if (done(p.key())) return;
  add(backend_.measure(p));
}

void CalibrationDriver::revisit_grid() {
  if (o_.tiny) return;
  for (int visit = 2; visit <= pol_.grid_visits; ++visit)
    for (const KernelPoint& p : grid_visited_) {
      if (stopped() || elapsed_s() >= o_.budget_s) return;
      add(backend_.measure(p));
    }
}

void CalibrationDriver::recheck_twins() {
  if (o_.tiny || max_threads_ < 2) return;
  struct Pair {
    std::string one, many;
    double deviation = 1;
  };
  const auto& all = r_.samples.samples;
  std::map<std::string, std::vector<std::pair<Pair, double>>> by_class;  // pair, its speed-up ratio
  for (const auto& [key, p] : known_) {
    if (p.threads != max_threads_ || (p.op != "conv" && p.op != "gemm")) continue;
    KernelPoint q = p;
    q.threads = 1;
    const auto a = index_.find(q.key()), b = index_.find(key);
    if (a == index_.end() || b == index_.end() || !known_.count(q.key())) continue;
    const double m1 = fit_ms(all[a->second]), mt = fit_ms(all[b->second]);
    if (m1 > 0 && mt > 0) by_class[p.klass].push_back({{q.key(), key}, mt / m1});
  }
  std::vector<Pair> suspects;
  for (auto& [klass, pairs] : by_class) {
    if (static_cast<int>(pairs.size()) < pol_.twin_recheck_min_pairs) continue;
    std::vector<double> r;
    for (const auto& pr : pairs) r.push_back(pr.second);
    std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(r.size() / 2), r.end());
    const double med = r[r.size() / 2];
    for (auto& [pair, ratio] : pairs) {
      pair.deviation = std::max(ratio / med, med / ratio);
      if (pair.deviation > pol_.twin_recheck_spread) suspects.push_back(pair);
    }
  }
  std::sort(suspects.begin(), suspects.end(), [](const Pair& x, const Pair& y) { return x.deviation > y.deviation; });
  const double end = std::min(o_.budget_s, elapsed_s() + pol_.twin_recheck_share * o_.budget_s);
  for (const Pair& pr : suspects) {
    if (stopped() || elapsed_s() >= end) break;
    reading_then_wait();
    add(backend_.measure(known_.at(pr.one)));
    add(backend_.measure(known_.at(pr.many)));
    ++r_.rechecked;
  }
}

void CalibrationDriver::measure_ceilings() {
  for (int t : std::set<int>{1, max_threads_}) {
    if (stopped()) break;
    Sample s = measure_stream(t, o_.tiny ? int64_t{1} << 20 : int64_t{64} << 20, o_.tiny ? 1 : 4);
    if (!done(s.instance)) add(s);
    s = measure_peak(t, o_.tiny ? 0.0 : 0.05, o_.tiny ? 50 : 2000);
    if (!done(s.instance)) add(s);
  }
  // Energy, where the device has a counter (RAPL, a phone's battery gauge): known work, fitted with the rest.
  if (!o_.tiny && !stopped())
    if (auto counter = find_energy_counter(); counter && !done(energy_instance(counter->source(), "idle", 0))) {
      progress("energy (" + counter->source() + ")");
      for (Sample& s : measure_energy(*counter, energy_seconds_for_budget(o_.budget_s))) add(std::move(s));
    }
  if (want_transfer_ && cores_ >= 2) {
    const std::vector<int64_t> sizes = o_.tiny ? std::vector<int64_t>{4096, 65536}
                                               : std::vector<int64_t>{4096, 65536, 1 << 20, 4 << 20, 16 << 20};
    for (int64_t b : sizes) {
      if (stopped()) break;
      if (!done("transfer/" + std::to_string(b) + "B/0-1")) add(run_transfer(b, 0, 1));
    }
  }
}

int CalibrationDriver::context_repeats_per_visit() const {
  const int visits = std::max(1, pol_.context_visits);
  return std::max(1, (pol_.context_repeats + visits - 1) / visits);
}

void CalibrationDriver::add_context_run(const ContextRun& cr, int repeats) {
  // A run lasts a second or two and gives many samples at once: it starts in a fast phase.
  reading_then_wait();
  const double t_start = unix_now();
  std::vector<Sample> got =
      backend_.measure_context(cr, o_.classes.empty() ? std::vector<std::string>{} : classes_, repeats);
  const double t_unix = 0.5 * (t_start + unix_now());  // the run's middle: its repeats span a second or two
  for (Sample& s : got) {
    s.features["t_unix"] = t_unix;
    add(std::move(s));
  }
}

void CalibrationDriver::measure_context() {
  if (o_.tiny) return;  // a whole model under an emulator takes minutes
  const double t0 = elapsed_s();
  const double share = pol_.context_share / std::max(1, pol_.context_visits);
  for (const ContextRun& cr : context_runs(max_threads_)) {
    if (stopped() || elapsed_s() > share * o_.budget_s) break;
    if (done(cr.key()) || !backend_.runs_in_context(cr)) continue;
    add_context_run(cr, context_repeats_per_visit());
    done_.insert(cr.key());
    visited_.push_back(cr);
    progress(cr.model + " in context");
  }
  context_visit_s_ = elapsed_s() - t0;
}

void CalibrationDriver::revisit_context() {
  for (int visit = 2; visit <= pol_.context_visits; ++visit)
    for (const ContextRun& cr : visited_) {
      if (stopped() || elapsed_s() >= o_.budget_s) return;
      add_context_run(cr, context_repeats_per_visit());
      progress(cr.model + " in context, visit " + std::to_string(visit));
    }
}

void CalibrationDriver::measure_grid() {
  // Design size from the budget: the policy's design_share of it over the cells, at design_sample_s a sample.
  const int n0 = o_.tiny ? 3
                         : std::clamp(static_cast<int>(pol_.design_share * o_.budget_s /
                                                       (pol_.design_sample_s * std::max<size_t>(1, cells_.size()))),
                                      pol_.design_min_points, pol_.design_max_points);
  // Per cell, design points alternating with real layers: a budget cut leaves both kinds.
  // Real layers once per thread count (the executor builds the zoo's graphs for them).
  std::map<std::pair<std::string, int>, std::vector<KernelPoint>> real_of;
  if (o_.real_layers && !o_.tiny)
    for (int t = 1; t <= max_threads_; ++t)
      for (KernelPoint& p : backend_.real_layers(classes_, t)) real_of[{p.klass, t}].push_back(std::move(p));
  std::vector<std::deque<KernelPoint>> queues(cells_.size());
  for (size_t i = 0; i < cells_.size(); ++i) {
    const auto d = design(cells_[i].first, cells_[i].second, n0, 1, pol_);
    const auto& real = real_of[cells_[i]];
    for (size_t k = 0; k < std::max(d.size(), real.size()); ++k) {
      if (k < d.size()) queues[i].push_back(d[k]);
      if (k < real.size()) queues[i].push_back(real[k]);
    }
  }
  // The grid gets design_share of what is left after the later context visits (each about as long as
  // the first); the adaptive rounds need the rest to matter.
  const double revisits_s = context_visit_s_ * std::max(0, pol_.context_visits - 1);
  const double end = o_.tiny ? o_.budget_s
                             : elapsed_s() + pol_.design_share * std::max(0.0, o_.budget_s - elapsed_s() - revisits_s) /
                                                 std::max(1, pol_.grid_visits);
  for (bool more = true; more && !stopped() && elapsed_s() < end;) {
    more = false;
    for (auto& q : queues) {
      if (q.empty() || stopped() || elapsed_s() >= end) continue;
      if (!done(q.front().key())) grid_visited_.push_back(q.front());
      measure_point(q.front());
      q.pop_front();
      more = true;
    }
  }
  checkpoint();
}

void CalibrationDriver::measure_adaptive() {
  uint64_t round = 2;
  while (!o_.tiny && !stopped() && o_.budget_s - elapsed_s() > 1.0) {
    std::map<std::pair<std::string, int>, std::vector<Sample>> groups;
    for (const Sample& s : r_.samples.samples) groups[{s.klass, sample_threads(s)}].push_back(s);
    double worst_score = -1;
    size_t worst_cell = 0;
    int worst_idx = -1;
    for (size_t i = 0; i < cells_.size(); ++i) {
      const auto& g = groups[cells_[i]];
      int idx = -1;
      const double e = g.size() < 8 ? 1e9 : held_out_rmspe(g, model::unit_feature_names(cells_[i].first, o_.gpu_unit), &idx, pol_);
      // Per sqrt(samples), so that one noisy cell does not take everything.
      const double score = e / std::sqrt(static_cast<double>(g.size() + 1));
      if (score > worst_score) worst_score = score, worst_cell = i, worst_idx = idx;
    }
    if (worst_score < 0) break;
    std::vector<KernelPoint> add_points = design(cells_[worst_cell].first, cells_[worst_cell].second, 3, round, pol_);
    if (worst_idx >= 0) {
      const auto& g = groups[cells_[worst_cell]];
      auto it = known_.find(g[static_cast<size_t>(worst_idx)].instance);
      if (it != known_.end())
        for (const KernelPoint& q : neighbours(it->second, pol_)) add_points.push_back(q);
    }
    const int before = r_.measured;
    for (const KernelPoint& p : add_points) {
      if (stopped() || o_.budget_s - elapsed_s() <= 0) break;
      measure_point(p);
    }
    r_.adaptive += r_.measured - before;
    if (++round > 100000) break;
  }
}

CalibrationDriver::Result CalibrationDriver::run() {
  measure_ceilings();
  measure_context();
  measure_grid();
  revisit_context();
  revisit_grid();
  recheck_twins();
  measure_adaptive();
  return finish();
}

CalibrationDriver::Result CalibrationDriver::finish() {
  r_.interrupted = stopped();
  take_reading(o_.tiny ? 1 : pol_.reference_runs);
  checkpoint();
  r_.wall_s = secs(readings_->t0, Clock::now());
  return r_;
}

Sample merge_sample(const Sample& a, const Sample& b) {
  Sample m = fit_ms(b) > 0 && (fit_ms(a) <= 0 || fit_ms(b) < fit_ms(a)) ? b : a;
  m.repeats = a.repeats + b.repeats;
  return m;
}

double held_out_rmspe(const std::vector<Sample>& samples, const std::vector<std::string>& features, int* worst,
                      const CalibrationPolicy& policy) {
  if (worst) *worst = -1;
  if (samples.size() < 8) return -1;
  std::vector<Sample> train;
  std::vector<size_t> held;
  for (size_t i = 0; i < samples.size(); ++i) (i % 4 == 3 ? held.push_back(i) : train.push_back(samples[i]));
  const model::KernelModel m = fit_kernel_class(train, features, policy);
  double sq = 0, worst_e = -1;
  for (size_t i : held) {
    const double e = (model::evaluate_model(m, samples[i].features) - fit_ms(samples[i])) / fit_ms(samples[i]);
    sq += e * e;
    if (std::fabs(e) > worst_e) {
      worst_e = std::fabs(e);
      if (worst) *worst = static_cast<int>(i);
    }
  }
  return 100.0 * std::sqrt(sq / static_cast<double>(held.size()));
}

}  // namespace hilsim::calibration
