// A fixed whole-model run timed when a profile is calibrated and again whenever its predictions are
// checked against measurements on the same machine. A shared VM's neighbours or a phone's thermal
// throttling can slow every kernel by tens of percent between the two; without this reading a check
// cannot tell a host that got slower from a cost model that is wrong.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hilsim/calibration/samples.h"
#include "hilsim/costmodel/profile.h"

namespace hilsim::calibration {

// What is timed, with the kernel version: readings of other workloads or kernels are not compared.
std::string speed_reference_workload();

// Compiles the workload once; time() may then be called between other measurements.
class SpeedReferenceRun {
 public:
  SpeedReferenceRun();
  ~SpeedReferenceRun();
  SpeedReferenceRun(const SpeedReferenceRun&) = delete;
  SpeedReferenceRun& operator=(const SpeedReferenceRun&) = delete;
  std::vector<double> time(int runs);  // one warm-up, then `runs` run times in ms

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// A reading kept as a sample (class "speed_reference", features threads=1 and t_unix, the time it was
// taken), so that the samples file carries the host's speed over the calibration and a refit can
// correct for it.
inline constexpr const char* kSpeedReferenceClass = "speed_reference";
Sample speed_reference_sample(const std::vector<double>& runs, double t_unix, int seq);
double unix_now();  // seconds, the time stamp of readings and samples (t_unix)

// The reading a profile keeps, from a calibration's readings in time order: the median of their p10s
// (the speed drift correction scales every sample to), the median p90/p10 of their runs, and how far
// the host's speed moved from the first reading to the last. Empty without readings.
costmodel::SpeedReference summarize_speed_reference(const std::vector<Sample>& readings);

// Every sample with a time stamp scaled to the host speed summarize_speed_reference() reports: by the
// reading interpolated at its t_unix, relative to the median one. On a shared machine whose speed moves
// 20% within a two-minute calibration, samples of one class taken a minute apart otherwise disagree by
// that much and the fit averages the phases. Sets with fewer than two readings come back unchanged.
struct DriftCorrection {
  int readings = 0, corrected = 0;
  double min_factor = 1, max_factor = 1;  // range of measured-time / corrected-time
};
SampleSet correct_drift(const SampleSet& s, DriftCorrection* info = nullptr);

// How much slower this host runs the workload now than when the profile was calibrated (now / then:
// 1.2 = 20% slower); 0 when the profile has no reading of the same workload.
double host_slowdown(const costmodel::DeviceInfo& profiled, double now_ms);

}  // namespace hilsim::calibration
