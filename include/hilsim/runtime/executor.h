// The hardware-in-the-loop measurement: a graph compiled onto hilsim's kernels and run on this
// machine. Compile = canonical passes (BN fold, re-parameterisation, activation fusion), pruning on
// request (mask generators), kernel choice per op from its format, weights packed once, one arena for
// the activations. Run = every op on its unit, per-op timing, real hand-offs between units.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/runtime/units.h"

namespace hilsim::kernels::opencl {
class ClContext;
}  // namespace hilsim::kernels::opencl

namespace hilsim::runtime {

// Weights packed ahead of time (an emitted model): the executor builds the kernel from them as they are.
struct PrepackedConv {
  kernels::SparseRows rows;
  std::vector<float> bias;
  std::string label;  // the kernel name stem (kernels::SparseFormat::name())
};

// CoDL's split of one conv along its output channels: the first `channels` run on `unit`, the rest and
// the join into the op's output tensor on the op's own unit, both parts at once.
struct ChannelSplit {
  std::string unit;
  int64_t channels = 0;
};

struct ExecOptions {
  int threads = 1;                             // threads of the single default unit
  SparsitySpec sparsity;                       // prune convs on the fly with the mask generators
  std::vector<UnitDef> units;                  // empty: one unit "cpu" with `threads` threads
  std::map<std::string, std::string> op_unit;  // op name -> unit id; unlisted ops run on the first unit
  bool canonicalize = true;                    // BN fold, re-parameterisation, activation fusion
  bool detect_structure = true;                // run weights that already carry block/pattern zeros sparse
  bool pin = false;                            // pin the single default unit's threads to cores 0..n-1
  // gpu unit: time a few tiles per dense conv shape (cached per device) rather than take the default.
  bool gpu_tune = true;
  std::map<std::string, std::shared_ptr<const PrepackedConv>> prepacked;  // op name -> packed weights
  // op name (after BN folding and fusion) -> its channel split (graph/passes/channel_split.h: the parts
  // are NAME/ch0, NAME/ch1 and NAME/join). Dense convs only for now.
  std::map<std::string, ChannelSplit> channel_splits;
};

// What runs for one op after compilation.
struct CompiledOp {
  std::string name;
  std::string type;
  std::string kernel;        // e.g. "dense_conv3x3_avx512", "block_8x4_avx512", "reference"
  std::string unit;
  std::string format = "dense";
  int64_t macs = 0;          // dense-equivalent
  int64_t executed_macs = 0; // what the kernel really does
  int64_t weight_bytes = 0;  // packed storage
  double kept_saliency = 1;  // of the mask applied on the fly (1 = nothing pruned)
  int64_t transfer_bytes = 0;  // gpu unit: bytes copied to and from the device around this op, per run
  int transfer_copies = 0;     // gpu unit: how many copies those bytes take (one per tensor)
};

struct RunTiming {
  std::vector<double> op_ms;        // per compiled op, in ops() order
  std::vector<double> op_start_ms;  // start of each op, from the start of the run
  double total_ms = 0;
  int crossings = 0;          // tensors handed from one unit to another
  double wait_ms = 0;         // time units spent waiting for a crossing tensor
  std::vector<double> op_transfer_ms;  // gpu unit: copies to and from the device around each op
  double transfer_ms = 0;              // their sum (host clock around the blocking copies)
};

struct Measurement {
  std::vector<double> op_ms_median;
  double ms_median = 0, ms_p10 = 0, ms_p90 = 0;
  int repeat = 0, warmup = 0;
  int crossings = 0;
  double wait_ms_median = 0;
  double transfer_ms_median = 0;  // gpu unit's copies to and from the device, per run
  double timing_overhead_pct = -1;  // filled by measure(..., check_overhead=true)
  // Every timed run: totals and, per op, its times (callers that pool several measurements).
  std::vector<double> run_ms;
  std::vector<std::vector<double>> op_run_ms;
};

class Executor {
 public:
  Executor(const graph::Graph& g, const ExecOptions& opts);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs once; inputs by graph input name. With `timing` null, no per-op clock is read.
  TensorMap run(const TensorMap& inputs, RunTiming* timing = nullptr);

  const std::vector<CompiledOp>& ops() const;
  // The graph actually executed: after passes and on-the-fly pruning (pruned weights are zeros), so
  // the reference executor on it is the numerical ground truth for run().
  const graph::Graph& compiled_graph() const;
  int64_t arena_bytes() const;
  int64_t peak_live_bytes() const;  // lower bound of any plan; equals analysis' peak for one unit
  const std::vector<UnitDef>& units() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens the OpenCL device of a gpu unit as the executor does: from a thread pinned to the unit's cores
// and, unless the user set it, with one PoCL thread per core. Anything that times the device (the
// calibrator too) must open it this way first: asking for the platforms from another thread starts
// PoCL there, on every core, and the driver keeps those threads for the rest of the process. Throws
// hilsim::Error naming the unit when there is no device.
std::shared_ptr<kernels::opencl::ClContext> open_gpu_device(const UnitDef& u);
// The same without throwing for a missing device: nullptr, and the reason (only the driver's words, for
// the caller to put in its own message) in *why_not.
std::shared_ptr<kernels::opencl::ClContext> try_open_gpu_device(const UnitDef& u, std::string* why_not);

Measurement measure(Executor& ex, const TensorMap& inputs, int warmup, int repeat, bool check_overhead = false);

}  // namespace hilsim::runtime
