// A fixed whole-model run timed when a profile is calibrated and again whenever its predictions are
// checked against measurements on the same machine. A shared VM's neighbours or a phone's thermal
// throttling can slow every kernel by tens of percent between the two; without this reading a check
// cannot tell a host that got slower from a cost model that is wrong.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

// The reading a profile keeps: p10 of all runs (the statistic calibration fits), their p90/p10, and
// how far the host's speed moved between the readings taken at the start and at the end.
costmodel::SpeedReference summarize_speed_reference(const std::vector<double>& start, const std::vector<double>& end);

// How much slower this host runs the workload now than when the profile was calibrated (now / then:
// 1.2 = 20% slower); 0 when the profile has no reading of the same workload.
double host_slowdown(const costmodel::DeviceInfo& profiled, double now_ms);

}  // namespace hilsim::calibration
