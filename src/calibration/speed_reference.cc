#include "hilsim/calibration/speed_reference.h"

#include <algorithm>

#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"

namespace hilsim::calibration {

namespace {
// Small enough to time in well under a second, broad enough to move with the host: dense 3x3 and
// 1x1 convs, residual adds, pooling and a GEMM, as the models being predicted.
constexpr const char* kModel = "zoo:resnet18_like@96x0.5";
}  // namespace

std::string speed_reference_workload() { return std::string(kModel) + " dense, 1 thread, " + kKernelVersion; }

struct SpeedReferenceRun::State {
  std::unique_ptr<runtime::Executor> ex;
  runtime::TensorMap in;
};

SpeedReferenceRun::SpeedReferenceRun() : s_(std::make_unique<State>()) {
  runtime::ExecOptions eo;
  eo.threads = 1;
  s_->ex = std::make_unique<runtime::Executor>(graph::load_model(kModel), eo);
  s_->in = runtime::random_inputs(s_->ex->compiled_graph(), 11);
}

SpeedReferenceRun::~SpeedReferenceRun() = default;

std::vector<double> SpeedReferenceRun::time(int runs) {
  return runtime::measure(*s_->ex, s_->in, 1, std::max(1, runs)).run_ms;
}

costmodel::SpeedReference summarize_speed_reference(const std::vector<double>& start, const std::vector<double>& end) {
  costmodel::SpeedReference r;
  std::vector<double> all = start;
  all.insert(all.end(), end.begin(), end.end());
  if (all.empty()) return r;
  r.workload = speed_reference_workload();
  r.ms = quantile(all, 0.1);
  r.spread = r.ms > 0 ? quantile(all, 0.9) / r.ms : 0;
  const double a = quantile(start, 0.1), b = quantile(end, 0.1);
  r.drift = a > 0 && b > 0 ? b / a - 1.0 : 0.0;
  return r;
}

double host_slowdown(const costmodel::DeviceInfo& profiled, double now_ms) {
  const costmodel::SpeedReference& r = profiled.speed_reference;
  if (r.workload != speed_reference_workload() || !(r.ms > 0) || !(now_ms > 0)) return 0;
  return now_ms / r.ms;
}

}  // namespace hilsim::calibration
