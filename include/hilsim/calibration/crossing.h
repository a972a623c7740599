// What a tensor pays to cross between the host and the gpu unit, measured as the executor pays it, and
// the one fit that turns crossing samples (core-to-core hand-offs or host<->device copies) into a
// profile's transfer figures. The copies' profiling events saw only the copy itself (a fit on them
// gave 0 us fixed cost); the host clock around a blocking copy also sees the enqueue and the event
// wait, and the hand-off between unit threads is a term of its own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hilsim/calibration/samples.h"
#include "hilsim/model/profile.h"
#include "hilsim/runtime/units.h"

namespace hilsim::calibration {

// Blocking copies host->device and device->host at a few sizes (64 B .. 4 MiB), timed by the host
// clock from a thread pinned to the unit's cores: "transfer" samples of the gpu (features bytes, call).
std::vector<Sample> measure_gpu_copies(const runtime::UnitDef& gpu, int repeats = 25);

// The hand-off: a chain of tiny 1x1 convs alternating between a CPU unit on `cpu_core` and the gpu
// unit, run by the executor; per crossing, the run's time spent in no op (the waiting unit learning of
// the tensor). One "sync" sample of the gpu (feature call). Throws Error without an OpenCL device.
Sample measure_gpu_sync(const runtime::UnitDef& gpu, int cpu_core, int repeats = 40);

// The device's co-run share: a 3x3 conv on the gpu unit timed alone, then while a thread pinned to
// `cpu_core` runs the CPU's dense conv without pause (a CPU unit at work beside it). Two "corun" samples
// of the gpu (feature busy 0 and 1, p10 of `repeats` runs each). Throws Error without an OpenCL device.
std::vector<Sample> measure_gpu_corun(const runtime::UnitDef& gpu, int cpu_core, int repeats = 9);
// busy / alone - 1 (at least 0) from those samples; nullopt without both.
std::optional<double> fit_corun(const std::vector<Sample>& samples);

// Fits `copies` (klass "transfer": bytes + a fixed part per copy) and, where given, `syncs` (klass
// "sync": the median per crossing) into one TransferSpec marked measured; nullopt with fewer than two
// copies. `basis` says what was timed. Copies timed inside model runs (feature in_context, `call` the
// copies of the op) set the fixed part where there are at least three: the latency from the copies as
// a run makes them (12.6 against 10.7 us back to back here), the bandwidth from the blocking copies.
// With at least kMinContextBandwidthCopies of them over sizes kContextBytesSpan apart or more, they set
// the bandwidth as well, where it comes out slower than back to back.
inline constexpr int kMinContextCopies = 3;
inline constexpr int kMinContextBandwidthCopies = 6;
inline constexpr double kContextBytesSpan = 8.0;
std::optional<model::TransferSpec> fit_crossing(const std::vector<Sample>& copies, const std::vector<Sample>& syncs,
                                                const std::string& basis);

}  // namespace hilsim::calibration
