// A device profile: what makes predictions true for one device. Versioned JSON (schema_version),
// written by calibration ("measured") or from public figures ("spec"); loading checks every field and
// names the bad one, so a hand-edited profile fails loudly instead of predicting nonsense.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hilsim::model {

inline constexpr int kProfileSchemaVersion = 1;

struct CacheLevel {
  int level = 1;
  std::string type = "data";  // data | unified
  int64_t bytes = 0;
  bool shared = false;        // shared by all cores
};
// The largest cache of the list (the last level), 0 when none is known.
int64_t last_level_cache_bytes(const std::vector<CacheLevel>& caches);

// A fixed workload timed at calibration (see calibration/speed_reference.h), so that a later check on
// the same machine can say how much of a gap is the host running slower, not the model being wrong.
struct SpeedReference {
  std::string workload;  // empty: none recorded (spec profiles, older calibrations)
  double ms = 0;         // p10 of its runs
  double spread = 0;     // p90 / p10 of its runs
  double drift = 0;      // end of the calibration vs its start: 0.1 = the host got 10% slower meanwhile
  // The same workload split over all the unit's threads (0: not recorded). A shared VM's other
  // vCPU comes and goes independently of the first: two calibrations minutes apart agreed within
  // 2.6% (median) at one thread and differed by 59% at two.
  int parallel_threads = 0;
  double parallel_ms = 0;
};

struct DeviceInfo {
  std::string name;
  std::string cpu_model;
  int cores = 1;
  std::vector<CacheLevel> caches;
  std::vector<std::string> isa;  // e.g. avx2, avx512f, neon
  std::string os;
  std::string calibrated_at;     // ISO 8601, empty for spec profiles
  std::string hilsim_version;
  std::string git_sha;
  std::string kernels;           // digest of the kernel sources calibrated ("" where unrecorded)
  std::string governor;          // cpufreq governor at calibration time ("unknown" if unreadable)
  SpeedReference speed_reference;
};

struct TransferSpec {
  double latency_us = 0;  // per crossing tensor: the copy's fixed part (enqueue, wait, a small copy)
  double gbps = 0;
  // Per crossing, apart from the copy: the consuming unit learning that the producer is done (event
  // wait, thread wake-up). A CPU+GPU split paid it on every crossing and the copies' profiling events
  // never saw it. Absent in older files: 0.
  double sync_us = 0;
  // "measured" (fitted on hand-offs between cores), "assumed" (a placeholder where none could be
  // measured: a one-core machine, a calibration cut short) or "spec"; a profile never passes an
  // invented figure off as a measurement. Absent in older files: "unrecorded".
  std::string source = "measured";
  std::string basis;  // why, where not measured
};

struct UnitSpec {
  std::string id;          // "cpu0", "gpu"
  std::string kind;        // "cpu" | "gpu"
  int threads = 1;
  double peak_gflops = 0;  // roofline ceilings
  double mem_gbps = 0;
  std::vector<int> cpus;   // cores the unit is pinned to (cpu units)
  // gpu units: copies between host memory and the device (gbps 0: none recorded, the profile's
  // `transfer` applies). A crossing into or out of a gpu unit pays these, not the core-to-core figure.
  TransferSpec host_transfer{0, 0, 0, "", ""};
  // gpu units: what the device is ("PoCL on CPU core 1 (pthread-...)", "spec: Adreno 650 roofline").
  std::string device;
  // gpu units: the device's compute units, over which work-groups run in waves (KernelInstance::
  // compute_units); PoCL pinned to one core reports one.
  int compute_units = 1;
  // gpu units: how much longer the device's ops take while the CPU units beside it are busy (0.5: half
  // as long again), measured (calibration::measure_gpu_corun); -1 where none was, and the profile-wide
  // share from the speed reference applies (costmodel::corun_slowdown). PoCL pinned to one core of a
  // 2-vCPU EPYC VM measured 0.00 (a 2.3 ms conv took the same beside the CPU unit's conv), where the
  // CPU's own kernels lose ~10% at two threads.
  double corun_share = -1;
};

// Kernel models fitted on a gpu unit are keyed "CLASS/gpu" (one model per class: the device has no
// thread count of ours), apart from the CPU's "CLASS/tN", so the two never mix.
std::string gpu_profile_key(const std::string& klass);
// "CLASS/gpu" -> CLASS; false for any other key.
bool split_gpu_profile_key(const std::string& key, std::string* klass);


// The fitted latency model of one kernel class: ms = sum_i params[i] * feature_i(instance).
struct KernelModel {
  std::string model = "linear";           // linear over `features`
  std::vector<std::string> features;
  std::vector<double> params;
  int samples = 0;
  double fit_rmspe = 0;                   // % on the fitting samples
  std::map<std::string, std::pair<double, double>> valid_range;  // feature -> [min, max] sampled
  std::string unit = "cpu";               // unit kind the samples were taken on
  // Samples were divided by (host slowdown when taken)^drift_exponent before the fit, the exponent
  // chosen per class by fit error; -1: no drift correction was applied (not written to the file).
  double drift_exponent = -1;
};

struct EnergySpec {
  std::string source = "estimate";  // rapl | sysfs | ina | nvml | estimate
  double pj_per_flop = 0;
  double pj_per_byte = 0;           // DRAM traffic
  double pj_per_byte_cache = 0;     // traffic served by on-chip caches
  double static_w = 0;
  std::string basis;                // how the numbers were obtained (required for estimates)
};

struct Profile {
  int schema_version = kProfileSchemaVersion;
  DeviceInfo device;
  std::string provenance = "spec";  // measured | spec
  std::string provenance_note;      // e.g. "timings under qemu-user are meaningless"
  std::vector<std::string> sources; // public documents a spec profile was built from
  std::vector<UnitSpec> units;
  TransferSpec transfer;
  std::map<std::string, KernelModel> kernels;  // by kernel class, e.g. "dense_conv3x3"
  EnergySpec energy;

  const UnitSpec* unit(const std::string& id) const;
};

// Parses and validates; throws hilsim::Error whose `where` is "<where>: field 'a.b[2].c'".
Profile parse_profile(const std::string& json_text, const std::string& where);
Profile load_profile(const std::string& path);
// The exponent the calibration divided samples by the host's slowdown at (one for the whole fit,
// written on each class): -1 when no drift correction was considered, 0 when none was applied.
double drift_exponent(const Profile& p);
std::string dump_profile(const Profile& p);  // pretty JSON, stable key order
void save_profile(const Profile& p, const std::string& path);

// How the machine a profile was measured on differs from `here` in what moves kernel speed: the ISA
// the kernels dispatch on (avx512f/avx2/neon), core count, cache sizes, CPU model, and the kernel sources
// (where both sides recorded their digest: a kernel changed since calibration). Empty when they
// agree. A profile only predicts the machine it was measured on, so a run checked against a profile
// of another machine should say so rather than report the gap as model error.
struct DeviceMismatch {
  enum class Kind { kIsa, kCores, kCache, kCpuModel, kKernels };
  Kind kind;
  std::string text;  // e.g. "L3 cache 8 MiB in the profile, 32 MiB here"
};
std::vector<DeviceMismatch> device_mismatches(const DeviceInfo& profiled, const DeviceInfo& here);

}  // namespace hilsim::model
