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
#include "hilsim/kernels/math_ops.h"
#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }


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
      // The executor's own path (runtime/sparse_select.cc): one mask rule, one packer, one entry point,
      // so the kernel, its weight bytes and its executed MACs are those `hilsim run` reports.
      const kernels::ConvDesc d{s, ep, sparse_format(p)};
      if (const std::string why = kernels::sparse_format_problem(s, d.sparse); !why.empty())
        throw Error("calibration point '" + p.key() + "'", why);
      const kernels::PruneMask m = kernels::format_mask(s, w.data(), d.sparse);
      x.conv = kernels::prepare_sparse_conv(d, kernels::pack_sparse_rows(s, w.data(), m.keep, d.sparse.row_height()),
                                            bias.data());
    }
    x.in = random_floats(static_cast<size_t>(s.c * s.h * s.w), seed + 2);
    x.out.assign(static_cast<size_t>(s.f * s.out_h() * s.out_w()), 0.0f);
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
  } else if (p.op == "scale") {
    x.in2 = random_floats(static_cast<size_t>(c), seed + 3);
    x.out.assign(x.in.size(), 0.0f);
    x.run = [c, h, w, &x](kernels::ThreadPool& pool) {
      kernels::binary_op(kernels::BinaryOp::kMul, {1, c, h, w}, x.in.data(), {1, c, 1, 1}, x.in2.data(), x.out.data(), pool);
    };
  } else if (p.op == "gelu") {
    x.out.assign(x.in.size(), 0.0f);
    x.run = [&x](kernels::ThreadPool& pool) {
      kernels::unary_op(kernels::UnaryOp::kGelu, x.in.data(), x.out.data(), static_cast<int64_t>(x.in.size()), pool);
    };
  } else if (p.op == "affine") {
    x.in2 = random_floats(static_cast<size_t>(2 * c), seed + 3);  // scale, then shift
    x.out.assign(x.in.size(), 0.0f);
    x.run = [c, h, w, &x](kernels::ThreadPool& pool) {
      kernels::channel_affine(1, c, h * w, x.in.data(), x.in2.data(), x.in2.data() + c, x.out.data(), pool);
    };
  } else if (p.op == "concat") {
    // The inputs after the first (f channels each) lie one after another in in2.
    const int64_t others = std::max(1, p.inputs) - 1;
    x.in2 = random_floats(static_cast<size_t>(others * f * h * w), seed + 3);
    x.out.assign(static_cast<size_t>(p.concat_channels() * h * w), 0.0f);
    // Axis 2: the same tensors as [1, h*w, c|f], joined per pixel.
    const bool inner = p.concat_axis != 1;
    std::vector<std::vector<int64_t>> shapes = {inner ? std::vector<int64_t>{1, h * w, c} : std::vector<int64_t>{1, c, h, w}};
    for (int64_t i = 0; i < others; ++i) shapes.push_back(inner ? std::vector<int64_t>{1, h * w, f} : std::vector<int64_t>{1, f, h, w});
    const int64_t axis = inner ? 2 : 1;
    x.run = [shapes, others, f, h, w, axis, &x](kernels::ThreadPool& pool) {
      std::vector<const float*> ins = {x.in.data()};
      for (int64_t i = 0; i < others; ++i) ins.push_back(x.in2.data() + i * f * h * w);
      kernels::concat(ins, shapes, axis, x.out.data(), pool);
    };
  } else if (p.op == "resize") {
    x.out.assign(static_cast<size_t>(4 * c * h * w), 0.0f);
    x.run = [c, h, w, &x](kernels::ThreadPool& pool) {
      kernels::resize_nearest(1, c, h, w, 2 * h, 2 * w, x.in.data(), x.out.data(), pool);
    };
  } else if (p.op == "transpose" || p.op == "split") {
    // The runtime's Transpose / Split: strided copies, one per output, one after another.
    const std::vector<kernels::StridedCopy> copies = point_copies(p);
    x.out.assign(x.in.size(), 0.0f);
    x.run = [copies, &x](kernels::ThreadPool& pool) {
      float* out = x.out.data();
      for (const auto& c : copies) {
        kernels::strided_copy(c, x.in.data(), out, pool);
        out += c.out_numel();
      }
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

// Writes an instance's inputs just before its kernel runs (untimed), as a layer's producer does inside
// a model and as the executor backend's Relu in front of each copy does: the input is warm, in the
// caches the producer left it in. Every input: an Add's two operands and each piece of a concat (in2)
// as well as the first. An in-place ReLU: after the first pass the values stay put. It runs
// on the pool, as the executor's producers do, so the kernel finds the pool's workers spinning, not
// asleep: written on the calling thread alone, a 2-thread point paid a futex wake per call, and the
// standalone calibrator timed 2-thread adds and concats at 1.4-2.3x the executor's.
void produce(Instance& x, kernels::ThreadPool& pool) {
  for (std::vector<float>* v : {&x.in, &x.in2}) {
    float* d = v->data();
    pool.parallel_for(v->size(), [d](size_t a, size_t b) {
      for (size_t i = a; i < b; ++i) d[i] = d[i] > 0.0f ? d[i] : 0.0f;
    }, 4096);
  }
}

// Times one run of x with its output in `slot`, the one buffer every instance of a point or context run
// writes (reserved to the largest output): inside a model the executor's activation arena hands an op a
// slot that earlier ops have just used, so its output lines are in the caches, as the executor backend's
// are. With an output buffer of its own per copy, every store missed: the standalone calibrator timed
// adds and affine passes at 1.7-2.8x, and 1x1 convs writing 4.8 MB at 1.45x, the executor's time.
double run_in_slot(Instance& x, std::vector<float>& slot, kernels::ThreadPool& pool) {
  slot.resize(x.out.size());
  std::swap(x.out, slot);
  const auto a = now();
  x.run(pool);
  const double ms = secs(a, now()) * 1e3;
  std::swap(x.out, slot);
  return ms;
}

std::vector<float> output_slot(const std::vector<std::unique_ptr<Instance>>& ins) {
  size_t most = 0;
  for (const auto& x : ins) most = std::max(most, x->out.size());
  std::vector<float> slot;
  slot.reserve(most);
  return slot;
}

}  // namespace

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& f : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    f = static_cast<float>(static_cast<double>(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  return i + 1 < v.size() ? v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]) : v.back();
}

std::vector<double> steadier_series(const std::function<void(std::vector<double>&)>& series, double stable_spread) {
  std::vector<double> t;
  series(t);
  const double p10 = quantile(t, 0.1), p90 = quantile(t, 0.9);
  if (p10 > 0 && p90 / p10 > stable_spread) {  // outlying series: measure once more, keep the steadier
    std::vector<double> t2;
    series(t2);
    const double q10 = quantile(t2, 0.1), q90 = quantile(t2, 0.9);
    if (q10 > 0 && q90 / q10 < p90 / p10) t.swap(t2);
  }
  return t;
}

Sample series_sample(const std::string& klass, const std::string& instance, std::map<std::string, double> features,
                     int threads, const std::vector<double>& t) {
  Sample s;
  s.klass = klass;
  s.instance = instance;
  s.features = std::move(features);
  s.features["threads"] = threads;
  s.ms_median = quantile(t, 0.5);
  s.ms_p10 = quantile(t, 0.1);
  s.ms_p90 = quantile(t, 0.9);
  s.repeats = static_cast<int>(t.size());
  return s;
}

Sample timed_sample(const model::KernelInstance& k, const std::string& instance, int threads, const std::vector<double>& t) {
  return series_sample(k.klass, instance, model::features_of(k), threads, t);
}

void timed_rounds(const std::function<void(std::vector<double>&)>& round, const CalibrationPolicy& pol,
                  std::vector<double>& t) {
  std::vector<double> warm;
  for (int r = 0; r < 2; ++r) round(warm);  // page faults, lazy buffers, clocks
  t.clear();
  const auto t0 = now();
  for (int rounds = 0; rounds < pol.sample_min_rounds ||
                       (rounds < pol.sample_max_rounds && secs(t0, now()) < pol.sample_min_time_s);
       ++rounds)
    round(t);
}

Sample run_point(const KernelPoint& p, const RunnerOptions& o, const CalibrationPolicy& pol) {
  const int64_t llc = host_llc_bytes();
  const int copies = round_copies(p, pol, llc);
  std::vector<std::unique_ptr<Instance>> ins;
  for (int i = 0; i < copies; ++i) ins.push_back(prepare(p, 17 + static_cast<uint64_t>(i)));
  kernels::ThreadPool pool(std::max(1, p.threads), o.cpus);
  std::vector<float> slot = output_slot(ins);
  auto round = [&](std::vector<double>& t) {
    for (auto& x : ins) {
      produce(*x, pool);
      t.push_back(run_in_slot(*x, slot, pool));
    }
  };
  const std::vector<double> t =
      steadier_series([&](std::vector<double>& t) { timed_rounds(round, pol, t); }, pol.stable_spread);
  model::KernelInstance k = instance_of(p);
  place_round_operands(k, p, pol, llc);
  return timed_sample(k, p.key(), p.threads, t);
}

std::vector<Sample> run_context(const ContextRun& r, const RunnerOptions& o, int repeats) {
  const std::vector<KernelPoint> layers = context_layers(r);
  std::vector<std::unique_ptr<Instance>> ins;
  uint64_t seed = 17;
  for (const KernelPoint& p : layers) ins.push_back(prepare(p, seed++));
  kernels::ThreadPool pool(std::max(1, r.threads), o.cpus);
  std::vector<std::vector<double>> t(ins.size());
  std::vector<float> slot = output_slot(ins);
  for (int pass = -2; pass < std::max(1, repeats); ++pass)  // two warm-up passes, as the executor's
    for (size_t i = 0; i < ins.size(); ++i) {
      produce(*ins[i], pool);
      const double ms = run_in_slot(*ins[i], slot, pool);
      if (pass >= 0) t[i].push_back(ms);
    }
  // Between two runs every layer's weights are read once: the model's weights and activations are the
  // reuse distance.
  const int64_t reuse = context_reuse_bytes(r), llc = host_llc_bytes();
  std::vector<Sample> out;
  for (size_t i = 0; i < ins.size(); ++i) {
    const KernelPoint& p = layers[i];
    model::KernelInstance k = instance_of(p);
    model::place_operands(k, reuse, llc);
    Sample s = timed_sample(k, r.key() + "/L" + std::to_string(i), r.threads, t[i]);
    if (s.ms_median > 0) out.push_back(std::move(s));
  }
  return out;
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

std::vector<Sample> KernelBackend::measure_context(const ContextRun& r, const std::vector<std::string>& classes,
                                                   int repeats) {
  std::vector<Sample> out;
  for (Sample& s : run_context(r, runner_, repeats))
    if (classes.empty() || std::find(classes.begin(), classes.end(), s.klass) != classes.end()) out.push_back(std::move(s));
  return out;
}

CalibrationDriver::Result calibrate_kernels(const DriverOptions& o, const RunnerOptions& runner) {
  DriverOptions d = o;
  if (o.tiny) {  // one copy, few short rounds: emulators run ~100x slower
    d.policy.sample_min_time_s = std::min(d.policy.sample_min_time_s, 0.001);
    d.policy.sample_min_rounds = std::min(d.policy.sample_min_rounds, 2);
    d.policy.cold_round_bytes = d.policy.far_round_bytes = 0;
  }
  KernelBackend backend(runner, d.policy);
  CalibrationDriver driver(backend, d);
  return driver.run();
}

}  // namespace hilsim::calibration
