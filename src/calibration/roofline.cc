#include "hilsim/calibration/roofline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/thread_pool.h"

namespace hilsim::calibration {

namespace {
using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

Sample measure_stream(int threads, int64_t bytes_per_buffer, int reps) {
  threads = std::max(1, threads);
  const size_t n = static_cast<size_t>(std::max<int64_t>(1024, bytes_per_buffer / 4));
  kernels::AlignedFloats a = kernels::alloc_aligned_floats(n), b = kernels::alloc_aligned_floats(n),
                         c = kernels::alloc_aligned_floats(n);
  kernels::ThreadPool pool(threads);
  // First touch by the threads that use the pages (NUMA-friendly, and no page faults while timed).
  pool.parallel_for(n, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) b[i] = 1.0f, c[i] = 2.0f, a[i] = 0.0f;
  }, 1 << 16);
  float* pa = a.get();
  const float* pb = b.get();
  const float* pc = c.get();
  double best = 1e300;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = Clock::now();
    pool.parallel_for(n, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) pa[i] = pb[i] + 3.0f * pc[i];
    }, 1 << 16);
    best = std::min(best, secs(t0, Clock::now()) * 1e3);
  }
  Sample s;
  s.klass = "stream";
  s.instance = "stream/triad" + std::to_string(bytes_per_buffer >> 20) + "MiB/t" + std::to_string(threads);
  s.features = {{"bytes", 3.0 * static_cast<double>(n) * 4.0}, {"threads", static_cast<double>(threads)}};
  s.ms_median = s.ms_p10 = s.ms_p90 = best;
  s.repeats = std::max(1, reps);
  return s;
}

Sample measure_peak(int threads, double seconds, int calls) {
  threads = std::max(1, threads);
  const kernels::GemmUkernel& uk = kernels::gemm_ukernel(kernels::active_isa());
  constexpr size_t kc = 128;  // A 8x128 + B 128x32 panels + C: ~20 KiB, resident in L1
  struct Work {
    kernels::AlignedFloats a, b, c;
  };
  std::vector<Work> work(static_cast<size_t>(threads));
  for (Work& w : work) {
    w.a = kernels::alloc_aligned_floats(kc * static_cast<size_t>(uk.mr));
    w.b = kernels::alloc_aligned_floats(kc * static_cast<size_t>(uk.nr));
    w.c = kernels::alloc_aligned_floats(static_cast<size_t>(uk.mr * uk.nr));
    for (size_t i = 0; i < kc * static_cast<size_t>(uk.mr); ++i) w.a[i] = 1e-3f;
    for (size_t i = 0; i < kc * static_cast<size_t>(uk.nr); ++i) w.b[i] = 1e-3f;
  }
  const kernels::UkernelEpilogue ep;
  // Plain threads, one tile each: a pool's dynamic chunks could let one thread take two tiles.
  auto burst = [&](int calls) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        Work& w = work[static_cast<size_t>(t)];
        for (int i = 0; i < calls; ++i)
          uk.fn(static_cast<size_t>(uk.mr), static_cast<size_t>(uk.nr), kc, w.a.get(), w.b.get(), w.c.get(),
                static_cast<size_t>(uk.nr), i > 0, false, ep);
      });
    for (auto& th : ts) th.join();
  };
  calls = std::max(1, calls);
  burst(calls / 2);  // warm-up (and clocks up)
  double best_rate = 0, total = 0;
  int bursts = 0;
  while (total < seconds || bursts < 2) {
    const auto t0 = Clock::now();
    burst(calls);
    const double dt = secs(t0, Clock::now());
    total += dt;
    ++bursts;
    const double flops = 2.0 * uk.mr * uk.nr * static_cast<double>(kc) * calls * threads;
    best_rate = std::max(best_rate, flops / dt);
    if (dt < 5e-3) calls *= 4;  // bursts long enough that starting the threads does not count
    if (bursts > 1000) break;
  }
  Sample s;
  s.klass = "peak";
  s.instance = std::string("peak/") + uk.name + "/t" + std::to_string(threads);
  const double flops = 2.0 * uk.mr * uk.nr * static_cast<double>(kc) * calls * threads;
  s.features = {{"flops", flops}, {"threads", static_cast<double>(threads)}};
  s.ms_median = s.ms_p10 = s.ms_p90 = flops / best_rate * 1e3;
  s.repeats = bursts;
  return s;
}

double stream_gbps(const Sample& s) {
  auto it = s.features.find("bytes");
  return it != s.features.end() && s.ms_median > 0 ? it->second / (s.ms_median * 1e6) : 0.0;
}

double peak_gflops(const Sample& s) {
  auto it = s.features.find("flops");
  return it != s.features.end() && s.ms_median > 0 ? it->second / (s.ms_median * 1e6) : 0.0;
}

}  // namespace hilsim::calibration
