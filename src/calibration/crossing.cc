#include "hilsim/calibration/crossing.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <exception>
#include <thread>

#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/graph/builder.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

using Clock = std::chrono::steady_clock;

// Crossings are timed from the device unit's one host thread.
Sample crossing_sample(const std::string& klass, const std::string& instance, std::map<std::string, double> features,
                       const std::vector<double>& ms) {
  Sample s = series_sample(klass, instance, std::move(features), 1, ms);
  s.unit = "gpu";
  return s;
}

}  // namespace

std::vector<Sample> measure_gpu_copies(const runtime::UnitDef& gpu, int repeats) {
  const std::string why = kernels::opencl::ClContext::unavailable_reason();
  if (!why.empty()) throw Error("unit '" + gpu.id + "'", "needs an OpenCL device and this machine has none: " + why);
  std::vector<Sample> out;
  std::exception_ptr err;
  // From the unit's own core, as the executor's gpu thread copies.
  std::thread t([&] {
    try {
      if (!gpu.cpus.empty()) kernels::ThreadPool::pin_current_thread(gpu.cpus[0]);
      auto ctx = kernels::opencl::ClContext::get();
      for (int64_t bytes : {int64_t{64}, int64_t{4} << 10, int64_t{64} << 10, int64_t{512} << 10, int64_t{4} << 20}) {
        std::vector<float> host(static_cast<size_t>(bytes / 4), 1.0f);
        auto dev = ctx->alloc(static_cast<size_t>(bytes));
        for (const bool up : {true, false}) {
          std::vector<double> ms;
          for (int i = 0; i < repeats + 3; ++i) {
            const auto t0 = Clock::now();
            if (up)
              ctx->write(*dev, host.data(), static_cast<size_t>(bytes));
            else
              ctx->read(*dev, host.data(), static_cast<size_t>(bytes));
            const double m = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            if (i >= 3) ms.push_back(m);  // the first copies of a buffer also allocate it on the device
          }
          out.push_back(crossing_sample("transfer", std::string("gpu/copy/") + (up ? "to_device/" : "to_host/") + std::to_string(bytes) + "B",
                                        {{"bytes", static_cast<double>(bytes)}, {"call", 1.0}}, ms));
        }
      }
    } catch (...) {
      err = std::current_exception();
    }
  });
  t.join();
  if (err) std::rethrow_exception(err);
  return out;
}

Sample measure_gpu_sync(const runtime::UnitDef& gpu, int cpu_core, int repeats) {
  // Tensors of 64 bytes: their copies are the fixed part measured above, so what is left between the
  // ops is the hand-off itself.
  constexpr int kOps = 8;
  graph::GraphBuilder b("crossing", 5);
  std::string x = b.input("x", {1, 4, 2, 2});
  runtime::ExecOptions eo;
  runtime::UnitDef cpu;
  cpu.id = "cpu_host";
  cpu.cpus = {cpu_core};
  eo.units = {cpu, gpu};
  for (int i = 0; i < kOps; ++i) {
    const std::string name = "c" + std::to_string(i);
    x = b.conv(x, 4, 1, 1, 1, true, std::nullopt, 1, name);
    eo.op_unit[name] = i % 2 ? cpu.id : gpu.id;
  }
  b.output(x);
  runtime::Executor ex(b.finish(), eo);
  const runtime::TensorMap in = runtime::random_inputs(ex.compiled_graph(), 3);
  for (int i = 0; i < 3; ++i) ex.run(in);
  std::vector<double> per_crossing;
  for (int r = 0; r < repeats; ++r) {
    runtime::RunTiming rt;
    ex.run(in, &rt);
    if (rt.crossings <= 0) throw Error("sync calibration", "the chain crossed no units (unit assignment lost)");
    double in_ops = 0;
    for (double ms : rt.op_ms) in_ops += ms;
    per_crossing.push_back(std::max(0.0, rt.total_ms - in_ops) / rt.crossings);
  }
  return crossing_sample("sync", "gpu/sync/" + std::to_string(kOps) + "ops/core" + std::to_string(cpu_core), {{"call", 1.0}},
                         per_crossing);
}

std::vector<Sample> measure_gpu_corun(const runtime::UnitDef& gpu, int cpu_core, int repeats) {
  // About 2 ms on the device (YOLOv8s's head runs 128 -> 64 channels at 28x28 for 7.5 ms on PoCL).
  graph::GraphBuilder b("corun", 7);
  const std::string x = b.input("x", {1, 128, 14, 14});
  runtime::ExecOptions eo;
  eo.units = {gpu};
  b.output(b.conv(x, 64, 3, 1, 1, true, std::nullopt, 1, "conv"));
  runtime::Executor ex(b.finish(), eo);
  const runtime::TensorMap in = runtime::random_inputs(ex.compiled_graph(), 3);
  for (int i = 0; i < 3; ++i) ex.run(in);
  auto series = [&] {
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      runtime::RunTiming rt;
      ex.run(in, &rt);
      ms.push_back(rt.total_ms);
    }
    return ms;
  };
  std::vector<Sample> out;
  out.push_back(crossing_sample("corun", "gpu/corun/alone", {{"busy", 0.0}, {"call", 1.0}}, series()));
  // The CPU unit's work: our dense 3x3 conv on its core, one thread, until told to stop.
  std::atomic<bool> stop{false};
  std::thread load([&] {
    kernels::ThreadPool::pin_current_thread(cpu_core);
    kernels::ConvShape s;
    s.c = s.f = 64, s.h = s.w = 28, s.kh = s.kw = 3, s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    const std::vector<float> w(static_cast<size_t>(s.weight_count()), 0.01f), xin(static_cast<size_t>(s.c * s.h * s.w), 1.0f);
    std::vector<float> y(static_cast<size_t>(s.f * s.out_h() * s.out_w()));
    const auto conv = kernels::prepare_dense_conv(s, w.data(), nullptr, {});
    kernels::ThreadPool one(1);
    while (!stop.load(std::memory_order_relaxed)) conv->run(xin.data(), y.data(), one);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<double> busy;
  try {
    busy = series();
  } catch (...) {
    stop = true;
    load.join();
    throw;
  }
  stop = true;
  load.join();
  out.push_back(crossing_sample("corun", "gpu/corun/busy", {{"busy", 1.0}, {"call", 1.0}}, busy));
  return out;
}

std::optional<double> fit_corun(const std::vector<Sample>& samples) {
  double alone = 0, busy = 0;
  for (const Sample& s : samples) {
    const bool b = s.features.count("busy") && s.features.at("busy") > 0.5;
    (b ? busy : alone) = fit_ms(s);
  }
  if (!(alone > 0) || !(busy > 0)) return std::nullopt;
  return std::max(0.0, busy / alone - 1.0);
}

std::optional<model::TransferSpec> fit_crossing(const std::vector<Sample>& copies, const std::vector<Sample>& syncs,
                                                const std::string& basis) {
  std::vector<Sample> blocking, in_context;
  for (const Sample& s : copies) (s.features.count("in_context") ? in_context : blocking).push_back(s);
  if (blocking.size() < 2) return std::nullopt;
  const model::KernelModel m = fit_kernel_class(blocking, {"bytes", "call"});
  model::TransferSpec t;
  t.latency_us = m.params[1] * 1e3;
  t.gbps = m.params[0] > 0 ? 1e-6 / m.params[0] : 100.0;
  std::string context_basis;
  // Enough copies inside runs, over a wide enough range of sizes, give the bandwidth too: back to back
  // a copy's source stays in the copying core's caches, inside a run it does not (the real suite's copies
  // ran at 1.6-1.7x a prediction at the blocking copies' bandwidth). Never faster than back to back.
  double lo = 0, hi = 0;
  for (const Sample& s : in_context) {
    const double b = s.features.count("bytes") ? s.features.at("bytes") : 0.0;
    if (b > 0) lo = lo > 0 ? std::min(lo, b) : b, hi = std::max(hi, b);
  }
  if (static_cast<int>(in_context.size()) >= kMinContextBandwidthCopies && lo > 0 && hi >= kContextBytesSpan * lo) {
    // ms = copies x latency + bytes / bandwidth, least squares on relative error (two terms, solved
    // directly: the class fit's carrier rules are for kernel terms).
    double s_nn = 0, s_nb = 0, s_bb = 0, s_ny = 0, s_by = 0;
    for (const Sample& s : in_context) {
      const double y = fit_ms(s);
      if (!(y > 0)) continue;
      const double n = (s.features.count("call") ? s.features.at("call") : 1.0) / y;
      const double b = (s.features.count("bytes") ? s.features.at("bytes") : 0.0) / y;
      s_nn += n * n, s_nb += n * b, s_bb += b * b, s_ny += n, s_by += b;
    }
    const double det = s_nn * s_bb - s_nb * s_nb;
    const double lat_ms = det > 0 ? (s_ny * s_bb - s_by * s_nb) / det : 0.0;
    const double ms_per_byte = det > 0 ? (s_nn * s_by - s_nb * s_ny) / det : 0.0;
    const double gbps = ms_per_byte > 0 ? 1e-6 / ms_per_byte : 0.0;
    if (gbps > 0 && gbps < t.gbps && lat_ms >= 0) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "; latency and bandwidth from %zu copies inside model runs (back-to-back copies: %.1f us + %.1f GB/s)",
                    in_context.size(), t.latency_us, t.gbps);
      t.latency_us = lat_ms * 1e3, t.gbps = gbps;
      context_basis = buf;
    }
  }
  if (context_basis.empty() && static_cast<int>(in_context.size()) >= kMinContextCopies) {
    // Per copy, what a run's copy took beyond its bytes at the blocking copies' bandwidth.
    std::vector<double> fixed_us;
    for (const Sample& s : in_context) {
      const double n = s.features.count("call") ? s.features.at("call") : 1.0;
      const double bytes = s.features.count("bytes") ? s.features.at("bytes") : 0.0;
      if (n > 0 && fit_ms(s) > 0) fixed_us.push_back(std::max(0.0, (fit_ms(s) * 1e3 - bytes / (t.gbps * 1e3)) / n));
    }
    if (static_cast<int>(fixed_us.size()) >= kMinContextCopies) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "; per-copy latency from %zu copies inside model runs (back-to-back copies: %.1f us)",
                    fixed_us.size(), t.latency_us);
      context_basis = buf;
      t.latency_us = quantile(fixed_us, 0.5);
    }
  }
  std::vector<double> sync_ms;
  for (const Sample& s : syncs)
    if (fit_ms(s) > 0) sync_ms.push_back(fit_ms(s));
  t.sync_us = sync_ms.empty() ? 0 : quantile(sync_ms, 0.5) * 1e3;
  t.source = "measured";
  t.basis = basis + context_basis +
            (syncs.empty() ? "" : "; sync per crossing from " + std::to_string(sync_ms.size()) + " executor hand-off runs");
  return t;
}

}  // namespace hilsim::calibration
