#include "hilsim/calibration/energy_calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>

#include "hilsim/calibration/fit.h"

namespace hilsim::calibration {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Work {
  double flops = 0, dram_bytes = 0, cache_bytes = 0;
};

// 16 independent accumulators of 8 lanes (GCC/Clang vector types, lowered to the target's SIMD):
// enough chains in flight to keep the FMA units busy, and all in registers, so the FLOPs cost no
// memory traffic.
typedef float V8 __attribute__((vector_size(32)));
Work fma_burst(std::vector<float>& acc) {
  constexpr int kIters = 8192;
  V8 x[16];
  for (int i = 0; i < 16; ++i)
    for (int l = 0; l < 8; ++l) x[i][l] = acc[static_cast<size_t>(i * 8 + l)];
  const V8 m = {0.99999f, 0.99999f, 0.99999f, 0.99999f, 0.99999f, 0.99999f, 0.99999f, 0.99999f};
  const V8 c = {1e-6f, 1e-6f, 1e-6f, 1e-6f, 1e-6f, 1e-6f, 1e-6f, 1e-6f};
  for (int it = 0; it < kIters; ++it)
    for (int i = 0; i < 16; ++i) x[i] = x[i] * m + c;
  for (int i = 0; i < 16; ++i)
    for (int l = 0; l < 8; ++l) acc[static_cast<size_t>(i * 8 + l)] = x[i][l];
  return {2.0 * kIters * 128, 0, 0};
}

// A copy between two buffers that fit in L2 together: bytes served by the cache, not DRAM.
Work cache_copy(std::vector<float>& src, std::vector<float>& dst) {
  std::copy(src.begin(), src.end(), dst.begin());
  src[0] = dst[src.size() - 1];
  return {0, 0, 2.0 * static_cast<double>(src.size() * sizeof(float))};
}

// A copy between buffers far larger than any last-level cache: every byte from and to DRAM.
Work dram_copy(std::vector<float>& src, std::vector<float>& dst) {
  std::copy(src.begin(), src.end(), dst.begin());
  src[0] = dst[src.size() - 1];
  return {0, 2.0 * static_cast<double>(src.size() * sizeof(float)), 0};
}

}  // namespace

std::string energy_instance(const std::string& source, const std::string& workload, int repeat) {
  return std::string(kEnergyClass) + "/" + source + "/" + workload + "/" + std::to_string(repeat);
}

double energy_seconds_for_budget(double budget_s) { return std::clamp(0.004 * budget_s, 0.1, 0.5); }

std::vector<Sample> measure_energy(EnergyCounter& counter, double seconds_each, int repeats) {
  std::vector<float> acc(128, 1.0f);
  std::vector<float> c_src(16 * 1024, 1.0f), c_dst(16 * 1024, 0.0f);              // 2 x 64 KiB
  std::vector<float> d_src(size_t{24} << 20, 1.0f), d_dst(size_t{24} << 20, 0.0f);  // 2 x 96 MiB
  const char* names[] = {"idle", "fma", "cache_copy", "dram_copy"};
  std::vector<Sample> out;
  for (int r = 0; r < repeats; ++r)
    for (int w = 0; w < 4; ++w) {
      Work total;
      counter.start();
      const auto t0 = Clock::now();
      if (w == 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds_each));
      } else {
        while (since(t0) < seconds_each) {
          const Work k = w == 1 ? fma_burst(acc) : w == 2 ? cache_copy(c_src, c_dst) : dram_copy(d_src, d_dst);
          total.flops += k.flops, total.dram_bytes += k.dram_bytes, total.cache_bytes += k.cache_bytes;
        }
      }
      const double secs = since(t0);
      const double joules = counter.stop_joules();
      Sample s;
      s.klass = kEnergyClass;
      s.instance = energy_instance(counter.source(), names[w], r);
      s.features = {{"flops", total.flops}, {"dram_bytes", total.dram_bytes}, {"cache_bytes", total.cache_bytes},
                    {"seconds", secs},      {"joules", joules},               {"threads", 1.0}};
      s.ms_median = s.ms_p10 = s.ms_p90 = secs * 1e3;
      s.repeats = 1;
      out.push_back(std::move(s));
    }
  // The accumulators are read so the FMA loop is not optimised away.
  if (acc[0] == 123.0f) std::fprintf(stderr, " ");
  return out;
}

bool fit_energy(const std::vector<Sample>& samples, EnergyFit* out, std::string* why_not) {
  auto refuse = [&](std::string why) {
    if (why_not) *why_not = std::move(why);
    return false;
  };
  std::vector<const Sample*> e;
  std::set<std::string> sources;
  int taken = 0;
  for (const Sample& s : samples) {
    if (s.klass != kEnergyClass) continue;
    ++taken;
    const size_t a = s.instance.find('/'), b = a == std::string::npos ? a : s.instance.find('/', a + 1);
    if (a == std::string::npos || b == std::string::npos)
      return refuse("energy sample '" + s.instance + "' does not name its counter (expected energy/COUNTER/WORKLOAD)");
    sources.insert(s.instance.substr(a + 1, b - a - 1));
    auto j = s.features.find("joules");
    if (j == s.features.end() || !(j->second > 0)) continue;  // a counter that did not move tells nothing
    e.push_back(&s);
  }
  if (taken == 0)
    return refuse("no energy counter was readable when these samples were taken (no RAPL powercap, no INA3221, "
                  "no battery gauge, no NVML)");
  if (sources.size() != 1) {
    std::string list;
    for (const auto& x : sources) list += (list.empty() ? "" : ", ") + x;
    return refuse("the energy samples come from " + std::to_string(sources.size()) + " different counters (" + list +
                  "), which measure different things and are not fitted together");
  }
  const std::string source = *sources.begin();
  if (source != "rapl" && source != "sysfs" && source != "ina" && source != "nvml")
    return refuse("the energy samples come from counter '" + source + "', which hilsim does not know");
  if (e.size() < 4)
    return refuse("only " + std::to_string(e.size()) + " of " + std::to_string(taken) + " energy samples (counter '" +
                  source + "') had readings that moved; four are needed for four coefficients");
  // Relative error: each row divided by its joules, so the idle second weighs as much as the busy one.
  const char* cols[] = {"flops", "dram_bytes", "cache_bytes", "seconds"};
  const double scale[] = {1e-12, 1e-12, 1e-12, 1.0};  // pJ/FLOP, pJ/byte, pJ/byte, W
  std::vector<double> a, rhs;
  for (const Sample* s : e) {
    const double j = s->features.at("joules");
    for (int c = 0; c < 4; ++c) {
      auto it = s->features.find(cols[c]);
      a.push_back((it == s->features.end() ? 0.0 : it->second) * scale[c] / j);
    }
    rhs.push_back(1.0);
  }
  const std::vector<double> x = nnls(a, e.size(), 4, rhs);
  double sq = 0;
  for (size_t r = 0; r < e.size(); ++r) {
    double pred = 0;
    for (int c = 0; c < 4; ++c) pred += a[r * 4 + c] * x[c];
    sq += (pred - 1.0) * (pred - 1.0);
  }
  EnergyFit f;
  f.samples = static_cast<int>(e.size());
  f.rmspe = 100.0 * std::sqrt(sq / static_cast<double>(e.size()));
  f.spec.source = source;
  f.spec.pj_per_flop = x[0];
  f.spec.pj_per_byte = x[1];
  f.spec.pj_per_byte_cache = x[2];
  f.spec.static_w = x[3];
  char basis[256];
  std::snprintf(basis, sizeof basis,
                "measured with the %s counter on %d runs of known work (idle, register FMAs, L2-resident copy, "
                "DRAM copy; one thread), fitted by non-negative least squares; fit RMSPE %.1f%%",
                source.c_str(), f.samples, f.rmspe);
  f.spec.basis = basis;
  *out = f;
  return true;
}

}  // namespace hilsim::calibration
