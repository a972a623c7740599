#include "hilsim/calibration/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/energy_calibration.h"
#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/roofline.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }


// Deterministic weights and inputs (values matter only for the masks, which rank by magnitude).
std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& f : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    f = static_cast<float>(static_cast<double>(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

kernels::Epilogue epilogue_of(int act) {
  kernels::Epilogue ep;
  ep.act = act == 1 ? kernels::Act::kRelu : act == 2 ? kernels::Act::kSiLU : kernels::Act::kNone;
  return ep;
}

// One prepared instance with its own buffers.
struct Instance {
  std::vector<float> in, in2, out;
  std::unique_ptr<kernels::PreparedConv> conv;
  std::unique_ptr<kernels::PreparedGemm> gemm;
  std::function<void(kernels::ThreadPool&)> run;
  int64_t executed_macs = 0, weight_bytes = 0;
};

std::unique_ptr<Instance> prepare(const KernelPoint& p, uint64_t seed) {
  auto ins = std::make_unique<Instance>();
  Instance& x = *ins;
  if (p.op == "conv") {
    const kernels::ConvShape s = p.conv_shape();
    s.validate();
    const std::vector<float> w = random_floats(static_cast<size_t>(s.weight_count()), seed);
    const std::vector<float> bias = random_floats(static_cast<size_t>(s.f), seed + 1);
    const kernels::Epilogue ep = epilogue_of(p.act);
    if (p.format == "dense") {
      x.conv = s.is_depthwise() ? kernels::prepare_depthwise_conv(s, w.data(), bias.data(), ep)
                                : kernels::prepare_dense_conv(s, w.data(), bias.data(), ep);
    } else {
      if (s.groups != 1) throw Error("calibration point '" + p.key() + "'", "sparse formats need groups == 1");
      kernels::PruneMask m;
      std::string label;
      if (p.format == "block" || p.format == "block_col") {
        m = kernels::block_mask(s, w.data(), p.bf, p.bc, p.ratio, p.format == "block_col");
        label = p.format + "_" + std::to_string(p.bf) + "x" + std::to_string(p.bc);
      } else if (p.format == "pattern") {
        m = kernels::pattern_mask(s, w.data(), p.entries);
        label = "pattern_" + std::to_string(p.entries) + "ep";
      } else if (p.format == "csr") {
        m = kernels::magnitude_mask(s, w.data(), p.ratio);
        label = "csr_1x1";
      } else {
        throw Error("calibration point '" + p.key() + "'", "unknown format '" + p.format + "'");
      }
      x.conv = kernels::prepare_sparse_conv(s, w.data(), bias.data(), ep, m.keep, sparse_row_height(p), label);
    }
    x.in = random_floats(static_cast<size_t>(s.c * s.h * s.w), seed + 2);
    x.out.assign(static_cast<size_t>(s.f * s.out_h() * s.out_w()), 0.0f);
    x.executed_macs = x.conv->executed_macs();
    x.weight_bytes = x.conv->weight_bytes();
    const kernels::PreparedConv* conv = x.conv.get();
    x.run = [conv, &x](kernels::ThreadPool& pool) { conv->run(x.in.data(), x.out.data(), pool); };
    return ins;
  }
  if (p.op == "gemm") {
    const std::vector<float> w = random_floats(static_cast<size_t>(p.c * p.f), seed);
    const std::vector<float> bias = random_floats(static_cast<size_t>(p.f), seed + 1);
    x.gemm = std::make_unique<kernels::PreparedGemm>(p.f, p.c, w.data(), p.c, true, bias.data(), kernels::Epilogue{});
    x.in = random_floats(static_cast<size_t>(p.h * p.c), seed + 2);
    x.out.assign(static_cast<size_t>(p.h * p.f), 0.0f);
    x.executed_macs = p.h * p.c * p.f;
    x.weight_bytes = (p.c * p.f + p.f) * 4;
    const kernels::PreparedGemm* g = x.gemm.get();
    const int64_t rows = p.h, c = p.c, f = p.f;
    x.run = [g, rows, c, f, &x](kernels::ThreadPool& pool) { g->run(rows, x.in.data(), c, false, x.out.data(), f, pool); };
    return ins;
  }
  const int64_t c = p.c, h = p.h, w = p.w, f = p.f;
  x.in = random_floats(static_cast<size_t>(c * h * w), seed + 2);
  if (p.op == "maxpool") {
    kernels::Pool2dShape s;
    s.c = c, s.h = h, s.w = w, s.kh = s.kw = p.k, s.stride_h = s.stride_w = p.stride;
    const int64_t pad = p.k == 2 ? 0 : p.k / 2;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
    s.out_h = (h + 2 * pad - p.k) / p.stride + 1;
    s.out_w = (w + 2 * pad - p.k) / p.stride + 1;
    s.validate();
    x.out.assign(static_cast<size_t>(c * s.out_h * s.out_w), 0.0f);
    x.run = [s, &x](kernels::ThreadPool& pool) { kernels::max_pool2d(s, x.in.data(), x.out.data(), pool); };
  } else if (p.op == "global_avgpool") {
    x.out.assign(static_cast<size_t>(c), 0.0f);
    x.run = [c, h, w, &x](kernels::ThreadPool& pool) { kernels::global_avg_pool(1, c, h * w, x.in.data(), x.out.data(), pool); };
  } else if (p.op == "add") {
    x.in2 = random_floats(x.in.size(), seed + 3);
    x.out.assign(x.in.size(), 0.0f);
    const std::vector<int64_t> shape = {1, c, h, w};
    x.run = [shape, &x](kernels::ThreadPool& pool) {
      kernels::binary_op(kernels::BinaryOp::kAdd, shape, x.in.data(), shape, x.in2.data(), x.out.data(), pool);
    };
  } else if (p.op == "concat") {
    x.in2 = random_floats(static_cast<size_t>(f * h * w), seed + 3);
    x.out.assign(static_cast<size_t>((c + f) * h * w), 0.0f);
    const std::vector<std::vector<int64_t>> shapes = {{1, c, h, w}, {1, f, h, w}};
    x.run = [shapes, &x](kernels::ThreadPool& pool) {
      kernels::concat({x.in.data(), x.in2.data()}, shapes, 1, x.out.data(), pool);
    };
  } else if (p.op == "resize") {
    x.out.assign(static_cast<size_t>(4 * c * h * w), 0.0f);
    x.run = [c, h, w, &x](kernels::ThreadPool& pool) {
      kernels::resize_nearest(1, c, h, w, 2 * h, 2 * w, x.in.data(), x.out.data(), pool);
    };
  } else if (p.op == "copy") {
    // The runtime's Reshape/Flatten: a plain copy on the calling thread.
    x.out.assign(x.in.size(), 0.0f);
    x.run = [&x](kernels::ThreadPool&) { std::memcpy(x.out.data(), x.in.data(), x.in.size() * sizeof(float)); };
  } else {
    throw Error("calibration point '" + p.key() + "'", "unknown op '" + p.op + "'");
  }
  return ins;
}

Clock::time_point now() { return Clock::now(); }

}  // namespace

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  return i + 1 < v.size() ? v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]) : v.back();
}

Sample run_point(const KernelPoint& p, const RunnerOptions& o) {
  const int copies =
      static_cast<int>(std::clamp<int64_t>(o.cold_bytes / std::max<int64_t>(1, p.working_set_bytes()), 1, 16));
  std::vector<std::unique_ptr<Instance>> ins;
  for (int i = 0; i < copies; ++i) ins.push_back(prepare(p, 17 + static_cast<uint64_t>(i)));
  kernels::ThreadPool pool(std::max(1, p.threads), o.cpus);
  auto series = [&](std::vector<double>& t) {
    for (int r = 0; r < 2; ++r)
      for (auto& x : ins) x->run(pool);  // warm-up: page faults, lazy buffers, clocks
    t.clear();
    const auto t0 = now();
    int rounds = 0;
    for (;;) {
      for (auto& x : ins) {
        const auto a = now();
        x->run(pool);
        t.push_back(secs(a, now()) * 1e3);
      }
      ++rounds;
      const double el = secs(t0, now());
      if (static_cast<int>(t.size()) >= o.max_reps || el >= o.max_time_s) break;
      if (rounds >= o.min_reps && el >= o.min_time_s) {
        const double lo = quantile(t, 0.1), hi = quantile(t, 0.9);
        if (lo > 0 && hi / lo <= o.stable_spread) break;
        if (el >= 4 * o.min_time_s) break;  // not settling: the re-measure below decides
      }
    }
  };
  std::vector<double> t;
  series(t);
  const double p10 = quantile(t, 0.1), p90 = quantile(t, 0.9);
  if (p10 > 0 && p90 / p10 > o.stable_spread) {  // outlying series: measure once more, keep the steadier
    std::vector<double> t2;
    series(t2);
    const double q10 = quantile(t2, 0.1), q90 = quantile(t2, 0.9);
    if (q10 > 0 && q90 / q10 < p90 / p10) t.swap(t2);
  }
  const model::KernelInstance k = instance_of(p, ins[0]->executed_macs, ins[0]->weight_bytes);
  Sample s;
  s.klass = k.klass;
  s.instance = p.key();
  s.features = model::features_of(k);
  s.features["threads"] = p.threads;
  s.ms_median = quantile(t, 0.5);
  s.ms_p10 = quantile(t, 0.1);
  s.ms_p90 = quantile(t, 0.9);
  s.repeats = static_cast<int>(t.size());
  return s;
}

struct KernelSequence::State {
  explicit State(int threads) : pool(threads) {}
  std::vector<std::unique_ptr<Instance>> ins;
  kernels::ThreadPool pool;
};

KernelSequence::KernelSequence(const std::vector<KernelPoint>& points, int threads)
    : s_(std::make_unique<State>(std::max(1, threads))) {
  uint64_t seed = 101;
  for (const KernelPoint& p : points) s_->ins.push_back(prepare(p, seed++));
}

KernelSequence::~KernelSequence() = default;

std::vector<double> KernelSequence::time(int runs) {
  std::vector<double> t;
  for (int r = -1; r < std::max(1, runs); ++r) {
    const auto a = now();
    for (auto& x : s_->ins) x->run(s_->pool);
    if (r >= 0) t.push_back(secs(a, now()) * 1e3);
  }
  return t;
}

Sample run_transfer(int64_t bytes, int core_a, int core_b) {
  std::vector<float> buf(static_cast<size_t>(std::max<int64_t>(1, bytes / 4)));
  std::atomic<int> flag{0}, ack{0};
  std::atomic<int64_t> t_send{0};
  constexpr int kReps = 30, kWarm = 3;
  std::vector<double> ms;
  ms.reserve(kReps);
  auto stamp = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  };
  // Both sides get their own threads: pinning the caller would leave it (and every thread it creates
  // later, which inherit its CPU mask) on one core.
  std::thread consumer([&] {
    kernels::ThreadPool::pin_current_thread(core_b);
    volatile float sink = 0;
    for (int i = 1; i <= kReps; ++i) {
      while (flag.load(std::memory_order_acquire) != i) {
      }
      float acc = 0;
      for (float v : buf) acc += v;  // the consumer really reads the tensor
      sink = sink + acc;
      if (i > kWarm) ms.push_back(static_cast<double>(stamp() - t_send.load()) / 1e6);
      ack.store(i, std::memory_order_release);
    }
  });
  std::thread producer([&] {
    kernels::ThreadPool::pin_current_thread(core_a);
    for (int i = 1; i <= kReps; ++i) {
      std::fill(buf.begin(), buf.end(), static_cast<float>(i));  // produced on core a
      t_send = stamp();
      flag.store(i, std::memory_order_release);
      while (ack.load(std::memory_order_acquire) != i) {
      }
    }
  });
  producer.join();
  consumer.join();
  Sample s;
  s.klass = "transfer";
  s.instance = "transfer/" + std::to_string(bytes) + "B/" + std::to_string(core_a) + "-" + std::to_string(core_b);
  s.features = {{"bytes", static_cast<double>(bytes)}, {"call", 1.0}, {"threads", 1.0}};
  s.ms_median = quantile(ms, 0.5);
  s.ms_p10 = quantile(ms, 0.1);
  s.ms_p90 = quantile(ms, 0.9);
  s.repeats = static_cast<int>(ms.size());
  return s;
}

double held_out_rmspe(const std::vector<Sample>& samples, const std::vector<std::string>& features, int* worst) {
  if (worst) *worst = -1;
  if (samples.size() < 8) return -1;
  std::vector<Sample> train;
  std::vector<size_t> held;
  for (size_t i = 0; i < samples.size(); ++i) (i % 4 == 3 ? held.push_back(i) : train.push_back(samples[i]));
  const model::KernelModel m = fit_kernel_class(train, features);
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

KernelCalibrationResult calibrate_kernels(const KernelCalibrationOptions& o) {
  const auto t0 = now();
  if (o.samples_path.empty()) throw Error("calibrate", "an output samples path is required");
  if (!(o.budget_s > 0)) throw Error("--budget-s", "must be positive");
  const bool all = o.classes.empty();
  std::vector<std::string> classes = all ? calibration_classes() : std::vector<std::string>{};
  bool want_transfer = all;
  for (const auto& c : o.classes) {
    check_kernel_class(c);
    if (c == "transfer") want_transfer = true;
    else classes.push_back(c);
  }
  KernelCalibrationResult r;
  SampleSet& set = r.samples;
  std::set<std::string> done;
  if (o.resume && std::filesystem::exists(o.samples_path)) {
    set = load_samples(o.samples_path);  // refuses another kernel version, naming both
    for (const auto& s : set.samples) done.insert(s.instance);
  }
  set.device = detect_device();
  set.device.calibrated_at = [] {
    char b[32];
    std::time_t t = std::time(nullptr);
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return std::string(b);
  }();
  if (!o.note.empty()) set.note = o.note;

  const int cores = std::max(1, kernels::ThreadPool::hardware_threads());
  const int max_threads = o.max_threads > 0 ? std::min(o.max_threads, cores) : cores;
  CalibrationPolicy pol = o.policy;
  RunnerOptions ro = o.runner;
  if (o.tiny) {  // emulators run ~100x slower: small instances, one copy, few repeats
    pol.max_sample_macs = 200'000;
    pol.max_sample_elements = 8'000;
    ro.min_time_s = std::min(ro.min_time_s, 0.001);
    ro.max_time_s = std::min(ro.max_time_s, 0.01);
    ro.min_reps = std::min(ro.min_reps, 2);
    ro.cold_bytes = 0;
  }
  auto stopped = [&] { return o.stop && o.stop->load(); };
  // Under an emulator one reading of the speed reference takes about a second: there the budget counts
  // the measurement without the readings, or a tiny calibration's readings leave no time for its grid.
  double reading_s = 0;
  auto elapsed = [&] { return secs(t0, now()) - (o.tiny ? reading_s : 0.0); };
  auto left = [&] { return o.budget_s - elapsed(); };
  int since_save = 0;
  auto checkpoint = [&] { save_samples(set, o.samples_path); };
  // The host's speed along the run, as `hilsim calibrate` records it (see speed_reference.h): a phone
  // throttling as it heats up is the drift the host-side fit corrects for. Under an emulator a
  // reading costs ~100x as much: one at the start and one at the end, few runs.
  const auto prepared = now();
  SpeedReferenceRun reference;
  std::unique_ptr<SpeedReferenceRun> parallel_reference;  // all threads: see calibrator.cc
  if (max_threads > 1) parallel_reference = std::make_unique<SpeedReferenceRun>(max_threads);
  reading_s += secs(prepared, now());
  int reading_seq = 0;  // a resumed set continues its readings
  for (const Sample& s : set.samples) reading_seq += s.klass == kSpeedReferenceClass;
  double last_reading = -1e300;
  auto take_reading = [&](int runs) {
    if (stopped()) return;
    const auto r0 = now();
    set.samples.push_back(speed_reference_sample(reference.time(runs), unix_now(), reading_seq++));
    if (parallel_reference)
      set.samples.push_back(speed_reference_sample(parallel_reference->time(runs), unix_now(), reading_seq++, max_threads));
    reading_s += secs(r0, now());
    last_reading = secs(t0, now());
  };
  const double reading_every_s = o.tiny ? 1e300 : o.policy.reading_every_s;
  take_reading(o.tiny ? 1 : o.policy.reference_runs);
  auto record = [&](const Sample& s0) {
    Sample s = s0;
    if (!s.features.count("t_unix")) s.features["t_unix"] = unix_now();
    set.samples.push_back(s);
    done.insert(s.instance);
    if (secs(t0, now()) - last_reading > reading_every_s) take_reading(o.policy.short_reference_runs);
    ++r.measured;
    if (++since_save >= o.checkpoint_every) checkpoint(), since_save = 0;
    if (o.progress) o.progress(std::min(o.budget_s, elapsed()), o.budget_s, s.instance);
  };

  // Roofline ceilings and core-to-core hand-offs first: quick, and every profile needs them.
  for (int t : std::set<int>{1, max_threads}) {
    if (stopped()) break;
    const int64_t buf = o.tiny ? int64_t{1} << 20 : int64_t{64} << 20;
    Sample s = measure_stream(t, buf, o.tiny ? 1 : 4);
    if (!done.count(s.instance)) record(s);
    s = measure_peak(t, o.tiny ? 0.0 : 0.05, o.tiny ? 50 : 2000);
    if (!done.count(s.instance)) record(s);
  }
  // Energy, where the device has a counter (a phone's battery gauge, RAPL): known work, fitted on the host.
  if (!o.tiny && !stopped())
    if (auto counter = find_energy_counter())
      if (!done.count(energy_instance(counter->source(), "idle", 0)))
        for (const Sample& s : measure_energy(*counter, energy_seconds_for_budget(o.budget_s))) record(s);
  if (want_transfer && cores >= 2) {
    const std::vector<int64_t> sizes = o.tiny ? std::vector<int64_t>{4096, 65536}
                                              : std::vector<int64_t>{4096, 65536, 1 << 20, 4 << 20, 16 << 20};
    for (int64_t b : sizes) {
      if (stopped()) break;
      const std::string key = "transfer/" + std::to_string(b) + "B/0-1";
      if (!done.count(key)) record(run_transfer(b, 0, 1));
    }
  }

  // Initial design, interleaved over (class, threads) cells so that a budget cut leaves every cell
  // some samples rather than the first classes all of them.
  std::vector<std::pair<std::string, int>> cells;
  for (const auto& c : classes)
    for (int t = 1; t <= max_threads; ++t) cells.emplace_back(c, t);
  const int n0 = o.tiny ? 3 : 12;  // a fit needs 3 samples per class and thread count
  std::vector<std::deque<KernelPoint>> queues(cells.size());
  std::map<std::string, KernelPoint> known;  // instance -> point, for neighbours of bad points
  for (size_t i = 0; i < cells.size(); ++i) {
    for (const KernelPoint& p : design(cells[i].first, cells[i].second, n0, 1, pol)) queues[i].push_back(p);
    if (o.reference_layers && !o.tiny)
      for (const KernelPoint& p : reference_layers({cells[i].first}, cells[i].second, pol)) queues[i].push_back(p);
  }
  auto measure = [&](const KernelPoint& p) {
    known[p.key()] = p;
    if (done.count(p.key())) return;
    record(run_point(p, ro));
  };
  // The design gets at most 60% of the budget; the adaptive rounds need the rest to matter.
  const double design_end = o.tiny ? o.budget_s : o.policy.design_share * o.budget_s;
  auto design_left = [&] { return design_end - elapsed(); };
  for (bool more = true; more && !stopped() && design_left() > 0;) {
    more = false;
    for (auto& q : queues) {
      if (q.empty() || stopped() || design_left() <= 0) continue;
      measure(q.front());
      q.pop_front();
      more = true;
    }
  }

  // Adaptive rounds (nn-Meter): fit each cell on 3/4 of its samples, predict the rest; the cell whose
  // held-out error (per sqrt(samples), so one noisy cell does not take everything) is worst gets new
  // design points and neighbours of its worst-predicted instance.
  uint64_t round = 2;
  while (!o.tiny && !stopped() && left() > 1.0) {
    std::map<std::pair<std::string, int>, std::vector<Sample>> groups;
    for (const Sample& s : set.samples) groups[{s.klass, sample_threads(s)}].push_back(s);
    double worst_score = -1;
    size_t worst_cell = 0;
    int worst_idx = -1;
    for (size_t i = 0; i < cells.size(); ++i) {
      const auto& g = groups[cells[i]];
      int idx = -1;
      const double e = g.size() < 8 ? 1e9 : held_out_rmspe(g, model::feature_names(cells[i].first), &idx);
      const double score = e / std::sqrt(static_cast<double>(g.size() + 1));
      if (score > worst_score) worst_score = score, worst_cell = i, worst_idx = idx;
    }
    if (worst_score < 0) break;
    std::vector<KernelPoint> add = design(cells[worst_cell].first, cells[worst_cell].second, 3, round, pol);
    if (worst_idx >= 0) {
      const auto& g = groups[cells[worst_cell]];
      auto it = known.find(g[static_cast<size_t>(worst_idx)].instance);
      if (it != known.end())
        for (const KernelPoint& q : neighbours(it->second, pol)) add.push_back(q);
    }
    int before = r.measured;
    for (const KernelPoint& p : add) {
      if (stopped() || left() <= 0) break;
      measure(p);
    }
    r.adaptive += r.measured - before;
    if (++round > 100000) break;
  }
  r.interrupted = stopped();
  take_reading(o.tiny ? 1 : o.policy.reference_runs);
  checkpoint();
  r.wall_s = secs(t0, now());
  return r;
}

}  // namespace hilsim::calibration
