// Fitting calibration samples into per-kernel-class latency models. Each model is linear in
// physically meaningful features (time per MAC, per byte moved, per output tile, per call, ...) with
// NON-NEGATIVE coefficients: a cost term cannot be negative, and letting least squares pick a negative
// one would fit the samples and extrapolate absurdly. The fit minimises RELATIVE error, since a
// 10 µs kernel matters as much to a ranking as a 10 ms one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/calibration/samples.h"
#include "hilsim/model/kernel_model.h"

namespace hilsim::calibration {

// Non-negative least squares min ||A x - b|| s.t. x >= 0 (Lawson–Hanson active set).
// A is rows x cols, row-major.
std::vector<double> nnls(const std::vector<double>& a, size_t rows, size_t cols, const std::vector<double>& b);

// Fits one class. `features` are the model's terms in order ("call" = the constant 1 per call).
model::KernelModel fit_kernel_class(const std::vector<Sample>& samples, const std::vector<std::string>& features,
                                        const CalibrationPolicy& policy = {});

// A memory-bound class whose samples all fit in the caches (none carries far_bytes) knows nothing of
// the rate beyond them: its far_bytes term fits to zero and a 40 MiB Add is priced at the L2 rate (such
// Adds ran 28% over). Its far term is then anchored where the calibration's own stream measurement puts
// it (stream_ms_per_byte at the class's thread count, <= 0 when none was taken): the extra of DRAM over
// the fitted near rate. A class that sampled far tensors (at least min_carriers of them: fewer were left
// out of the fit, see CalibrationPolicy::min_feature_samples) keeps its fitted term. Returns whether it set it.
bool anchor_far_rate(model::KernelModel& m, const std::vector<Sample>& samples, double stream_ms_per_byte,
                     int min_carriers = 1);

// Samples whose value of `feature` is non-zero.
int carriers_of(const std::vector<Sample>& samples, const std::string& feature);

// The activation epilogue (SiLU, sigmoid, hard-swish over the output; one shared routine after every
// conv kernel) costs about the same per output byte whichever kernel ran: 7-9e-8 ms a byte at 1 thread
// in each class that sampled it. A compute class whose act_bytes term was left out of its fit (fewer
// than min_carriers samples carry it: no network in context gives depthwise 3x3 a SiLU) takes
// act_ms_per_byte, the rate of the classes that fitted it, instead of nothing (EfficientNet's SiLU
// depthwise layers then ran 30-40% over their prediction). So does a class whose own fitted rate lies
// more than `max_spread` times above or below the shared one (0: never): its SiLU samples were a few
// grid points, and sparse_fb8 fitted 0 at one thread and 8x the shared rate at two, which put YOLOs'
// and EfficientNet's block-sparse layers at 0.6-0.7x and 1.7-2.7x their time. Returns whether it set it.
bool borrow_act_rate(model::KernelModel& m, const std::vector<Sample>& samples, double act_ms_per_byte,
                     int min_carriers, double max_spread = 0);

// The class whose samples a thin class (fewer than CalibrationPolicy::thin_class_samples) is fitted
// with besides its own, "" for none: the same kernel at another size, whose features already tell the
// sizes apart (depthwise 5x5 and 7x7 -> 3x3: the same row and lanes kernels, taps counted in lane_macs).
std::string sibling_class(const std::string& klass);

// Root-mean-square percentage error of a model over samples.
double rmspe(const model::KernelModel& m, const std::vector<Sample>& samples);

}  // namespace hilsim::calibration
