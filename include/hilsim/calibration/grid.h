// The calibration grid: instances of every kernel class described by plain numbers (no graph, no
// ONNX). It is the one design both measurement paths time: `hilsim calibrate` runs each point through
// the executor (calibrator.h), the standalone calibrator cross-compiled for phones and boards calls the
// prepared kernel directly (runner.h). Classes and features are those of kernel_features.h, so the
// samples fit into the same profile keys ("CLASS/tN") the predictor reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/calibration/calibration_policy.h"
#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/layout_ops.h"
#include "hilsim/model/kernel_features.h"

namespace hilsim::calibration {

// One kernel instance to time.
struct KernelPoint {
  std::string klass;
  int threads = 1;
  // conv | gemm | maxpool | global_avgpool | add | affine | gelu | concat | resize | copy (a Flatten) |
  // transpose ([1, c, h, w] -> NHWC) | split ([1, h*w, c] into runs of f and c - f floats per pixel)
  std::string op;
  // gemm: h rows (1 for a classifier, tokens else) of c inputs to f outputs.
  int64_t c = 8, f = 8, h = 8, w = 8, k = 1, stride = 1, groups = 1;
  std::string format = "dense";  // dense | block | block_col | pattern | csr
  int bf = 8, bc = 4, entries = 2;
  double ratio = 0;
  int act = 0;  // fused epilogue: 0 none, 1 ReLU, 2 SiLU (the exp-based one costs per output byte)
  int inputs = 2;  // concat: tensors joined, the first of c channels, each other of f
  // concat: 1 joins [1, c|f, h, w] tensors along the channels; 2 joins [1, h*w, c|f] ones along the
  // last axis (a detector head's per-pixel pieces: h*w x inputs short runs).
  int concat_axis = 1;

  std::string key() const;  // unique text: the sample's `instance`
  kernels::ConvShape conv_shape() const;  // op == "conv": padding k / 2 on every side
  int64_t macs() const;                   // dense-equivalent
  int64_t working_set_bytes() const;      // activations + weights of one instance
  int64_t weight_bytes() const;           // dense weights of one instance (0 for memory-bound ops)
  int64_t concat_channels() const { return c + f * (inputs - 1); }  // op == "concat": of the output
};

// The strided copies a transpose or split point runs (kernels::make_transpose / make_slice), one per
// output; empty for any other op. Both backends run these, and the instance counts their loops.
std::vector<kernels::StridedCopy> point_copies(const KernelPoint& p);

// Every class calibration knows, in a stable order ("transfer" is measured apart).
const std::vector<std::string>& calibration_classes();
// Throws hilsim::Error naming `klass` and the known classes when it is not one of them.
void check_kernel_class(const std::string& klass);

// Design helpers: a scrambled Halton coordinate in [0, 1) (radical inverse in base b, Cranley-Patterson shift) and
// a log-uniform integer in [lo, hi] for u in [0, 1].
double halton(uint64_t i, int b, double shift);
int64_t log_uniform(double u, int64_t lo, int64_t hi);

// The layer kinds real networks have and a plain grid misses (the policy's design shares): grouped
// convs, squeeze-excite 1x1s on 1x1 maps, GEMMs with weights beyond L2 or over token rows, concats of
// more than two inputs, standalone batch norms, global pools.
bool is_real_network_kind(const KernelPoint& p);
// Which of those kinds ("grouped", "patchify", "far head", "gelu", "inner axis", ...): a design takes
// each once before any twice.
std::string real_network_kind(const KernelPoint& p);

// Space-filling design for one class: `n` points of a scrambled Halton sequence over log-channels,
// log-spatial, stride, kernel variant and sparsity ratio (0..0.95), deterministic in `seed`, kept under
// the policy's caps so one sample stays short; the policy's shares add grouped convs, 7x7 depthwise,
// global pools, GEMMs far beyond the caches and over token rows; those kinds come first, alternating
// with plain points (a budget cut keeps both). Throws naming an unknown class.
std::vector<KernelPoint> design(const std::string& klass, int threads, int n, uint64_t seed,
                                const CalibrationPolicy& policy = {});

// Real layer shapes of common mobile CNNs (MobileNetV2, ResNet-18, a YOLOv5s-like detector), as
// points of the classes asked for: where a model's time goes, the design alone samples thinly.
std::vector<KernelPoint> reference_layers(const std::vector<std::string>& classes, int threads,
                                          const CalibrationPolicy& policy = {});

// Neighbours of a point (channels and spatial scaled up and down): adaptive samples around a region
// whose error is high.
std::vector<KernelPoint> neighbours(const KernelPoint& p, const CalibrationPolicy& policy = {});

// The kernel instance (features) of a point, as the cost model forms it for the same layer (a pruned
// conv's executed MACs and storage bytes from conv_footprint, as predictions take them).
model::KernelInstance instance_of(const KernelPoint& p);

// The sparse engine's format of a point (format != "dense"), and its row height (filters per packed
// row; 1 for a dense point).
kernels::SparseFormat sparse_format(const KernelPoint& p);
int sparse_row_height(const KernelPoint& p);

// Independent copies of a point one timed round cycles through, alike in both backends: enough that
// a round's working set overflows the private caches (policy.cold_round_bytes), as inside a model;
// working sets beyond policy.far_working_set_bytes repeat until the round holds far_round_bytes.
// A layer whose weights outgrow L2 keeps its round within what a last-level cache of `llc_bytes`
// holds (model::kLlcHoldsShare), so its weights are read from one tier, not a blend of two.
int round_copies(const KernelPoint& p, const CalibrationPolicy& policy, int64_t llc_bytes);
// The instance a timed sample of `p` describes: `k` with its operands placed where the round left them
// (model::place_operands over the round's bytes).
void place_round_operands(model::KernelInstance& k, const KernelPoint& p, const CalibrationPolicy& policy,
                         int64_t llc_bytes);

// Layers in context: a whole model run layer after layer, every layer timed where it sits. Inside a
// model a layer's input arrives warm from its producer and its weights come from wherever the rest of
// the model left them, which a one-op grid cannot reproduce. The runs use other resolutions and
// widths than the zoo's defaults, so the models that `bench-predictor` checks stay unseen. Both
// backends take this one list: the executor runs the zoo's graphs, the kernel-direct backend the
// layer tables of context_layers().
struct ContextRun {
  std::string model;     // zoo:NAME@RESxWIDTH
  std::string sparsity;  // "" (dense) or a uniform spec (block:8x4@0.6, pattern:2, csr@0.8)
  int threads = 1;
  std::string key() const;
};
std::vector<ContextRun> context_runs(int max_threads);

// A run's layers as kernel points, in the model's order, for a backend without graphs (a phone): the
// built-in table's layers of the model's family (MobileNetV2, ResNet-18, the YOLOv5s-like detector)
// scaled to the run's resolution and width (channels in the zoo's steps of 8), each eligible conv in
// the run's sparse format. The convs are one block of each kind; the memory-bound layers (adds, pools,
// concats, resizes, the flatten copy) are every one the zoo graph runs, as grid points of their op
// with instance_of()'s features, so they weigh in the fit as the executor's in-context samples do.
// Empty for a family the table does not hold; throws naming a malformed model or sparsity text.
std::vector<KernelPoint> context_layers(const ContextRun& r);
// The dense weights of the whole model a run of context_layers() stands for (its rows hold each kind of
// layer once): the reuse distance of its layers' weights (model::place_operands). 0 for a family the
// table does not hold.
int64_t context_weight_bytes(const ContextRun& r);
// ... and its peak activations (the largest conv's input and output): what the run touches between two
// uses of a layer's weights, as model::graph_reuse_bytes reckons it for the zoo graph. 0 as above.
int64_t context_reuse_bytes(const ContextRun& r);

}  // namespace hilsim::calibration
