// A fixed workload (a small CNN's kernels, run one after another on one thread) timed when a profile is calibrated and again whenever its predictions are
// checked against measurements on the same machine. A shared VM's neighbours or a phone's thermal
// throttling can slow every kernel by tens of percent between the two; without this reading a check
// cannot tell a host that got slower from a cost model that is wrong.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/model/profile.h"

namespace hilsim::calibration {

// What is timed. The kernels that timed it are the profile's device.kernels digest.
std::string speed_reference_workload();
// Whether a profile's reading can be compared with one taken now: the same workload (readings from
// before the digest spelled it with a ", kernels-N" tail) run by kernels not known to differ from this
// build's (a profile that records no digest is taken at its word, as before).
bool speed_reference_comparable(const model::DeviceInfo& profiled);

// Prepares the workload once; time() may then be called between other measurements. With threads > 1
// each kernel is split over that many threads: the reading of the host's parallel capacity.
class SpeedReferenceRun {
 public:
  explicit SpeedReferenceRun(int threads = 1);
  ~SpeedReferenceRun();
  SpeedReferenceRun(const SpeedReferenceRun&) = delete;
  SpeedReferenceRun& operator=(const SpeedReferenceRun&) = delete;
  std::vector<double> time(int runs);  // one warm-up, then `runs` run times in ms

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// A reading kept as a sample (class "speed_reference", features threads and t_unix, the time it was
// taken), so that the samples file carries the host's speed over the calibration and a refit can
// correct for it. Drift correction and slow phases read the one-thread readings; readings at more
// threads give the profile's parallel level.
inline constexpr const char* kSpeedReferenceClass = "speed_reference";
Sample speed_reference_sample(const std::vector<double>& runs, double t_unix, int seq, int threads = 1);
double unix_now();  // seconds, the time stamp of readings and samples (t_unix)

// The reading a profile keeps, from a calibration's readings in time order: the undisturbed level
// (the policy's fast_level_quantile of the readings, each first the median of itself and its neighbours), the median
// p90/p10 of their runs, and how far the host's speed moved from the first reading to the last.
// Empty without readings. Readings at more than one thread (the most threads among them) give
// parallel_threads and parallel_ms, their undisturbed level taken the same way.
model::SpeedReference summarize_speed_reference(const std::vector<Sample>& readings,
                                                     const CalibrationPolicy& policy = {});

// How much slower the host ran than its undisturbed level when each sample was taken: the reading
// interpolated at the sample's t_unix over the level summarize_speed_reference() reports (1 for the
// readings themselves, unstamped samples, and sets with fewer than two readings).
struct DriftCorrection {
  int readings = 0, corrected = 0;
  double min_factor = 1, max_factor = 1;  // range of the factors
};
std::vector<double> host_factors(const SampleSet& s, DriftCorrection* info = nullptr,
                                 const CalibrationPolicy& policy = {});
// Every sample's times divided by factor^exponent. A kernel does not slow down by as much as the
// reference workload does (per instance, samples taken in the host's slow phase were 1.3x, not the
// reference's 1.8x, slower): the fit chooses the exponent per class (FitOptions).
SampleSet scale_by_host(const SampleSet& s, const std::vector<double>& factors, double exponent);
// One sample's times divided by factor^exponent.
Sample scale_by_host(const Sample& s, double factor, double exponent);

// Whether the last of `readings` (p10s in time order) finds the host in a slow phase: more than
// the policy's slow_phase_ratio x the fast level of all of them. Fewer than 3 readings: no level to
// judge by.
bool slow_phase(const std::vector<double>& readings, const CalibrationPolicy& policy = {});

// How much slower this host runs the workload now than when the profile was calibrated (now / then:
// 1.2 = 20% slower); 0 when the profile has no comparable reading (speed_reference_comparable).
double host_slowdown(const model::DeviceInfo& profiled, double now_ms);
// The same for the workload on `threads` threads, against the profile's parallel level; 0 when the
// profile has none at that thread count.
double host_parallel_slowdown(const model::DeviceInfo& profiled, int threads, double now_ms);

}  // namespace hilsim::calibration
