// What calibration measures and the cost model predicts share one vocabulary: a kernel instance
// (class + shape + format facts + threads) and its features. A class is the kernel that runs
// ("dense_conv3x3", "depthwise_conv3x3", "block_8x4", "pattern_2ep", "csr_1x1", "gemm", "pool",
// "elementwise", "concat", "resize", "copy", "transfer"); profiles hold one fitted model per class
// and thread count, keyed "CLASS/tN".
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::model {

struct KernelInstance {
  std::string klass;
  int threads = 1;
  int64_t macs = 0;          // dense-equivalent multiply-accumulates
  int64_t executed_macs = 0; // what the kernel really computes (sparse: kept weights only)
  int64_t in_bytes = 0;      // activations read
  int64_t out_bytes = 0;     // activations written
  int64_t weight_bytes = 0;  // weights in their storage format (values + indices)
  int64_t out_tiles = 0;     // output tiles (register-tile granularity): per-tile overheads
  // Compute kernels: the items their own rule splits a run into over threads (kernels::dense_split, the
  // sparse engine's tiles x rows, depthwise planes, GEMM tiles). With few of them the busiest thread
  // does more than its share (kernels::ThreadPool::busiest_share), and the work terms grow by that much.
  int64_t work_items = 0;
  int64_t lane_macs = 0;     // sparse engine, depthwise: MACs x the vector lanes they cover (incl. idle ones)
  int64_t act_bytes = 0;     // output bytes through a transcendental activation (SiLU, sigmoid, ...)
  int64_t panel_bytes = 0;   // dense convs: the im2col panels (K x padded pixels); depthwise: padded planes
  // Weights are streamed once per output strip/tile; where they live decides what that costs. The first
  // sweep comes from beyond the private caches, and so does every sweep of a weight set larger than a
  // core's L2 share (kNearWeightBytes): those bytes also count in wstream_far_bytes (the extra of reading
  // them from DRAM) unless the last-level cache holds them between uses (place_operands; then 0).
  int64_t wstream_bytes = 0;
  int64_t wstream_far_bytes = 0;
  // A memory-bound op's in + out bytes that stream from DRAM (place_operands); -1 until placed.
  int64_t act_far_bytes = -1;
  // Sparse engine: accumulators carried between channel chunks (tiles whose input outgrows L1), and
  // the lanes of strided convs, which read stride-phase copies of the input.
  int64_t acc_bytes = 0;
  int64_t strided_lane_macs = 0;
  // Strided sparse convs pay per tile for gathering their stride phases, which dominates once a high
  // ratio leaves few kept columns per tile.
  int64_t strided_tiles = 0;
  // Sparse engine, 1x1 convs read in place: the lanes of tiles cut short by the plane's end, which run
  // masked loads for every kept column; and the micro-kernel calls beyond one per tile that channel
  // chunks add (each reloads and stores its accumulators).
  int64_t masked_lane_macs = 0;
  int64_t chunk_calls = 0;
  // Pooling: the compares/adds of its passes (kernels::pool2d_work; a global pool reads each input
  // once), and those of strided windows, which gather.
  int64_t window_ops = 0;
  int64_t strided_window_ops = 0;
  // Concat: the tensors it joins. Each input is a copy of its own (a call, a split over threads); a
  // DenseNet block's concat of up to 48 inputs ran ~50% over a per-byte rate fitted on 2-4 inputs.
  int64_t inputs = 0;
  // Concat along an inner axis copies outer x inputs contiguous runs, not one per input: YOLO's detect
  // head joins (2, 2, 81)-float pieces of every anchor and pixel, 14400 memcpy calls for 1.6 MB, and ran
  // at a fifth of the per-byte rate. The runs past one per input (0 for a channel concat at batch 1).
  int64_t extra_runs = 0;
  // Pool and resize: the inner loops the kernel starts (kernels::PoolWork::rows; a resize's output
  // rows; a global pool's planes). On small maps the per-loop start outweighs the bytes: a 5x5 pool of
  // a 7x7 map ran at 3x a per-byte-and-compare fit.
  int64_t rows = 0;
  // Memory-bound ops that sweep their tensors more than once (graph::OpSpec::input_reads,
  // output_writes): the bytes of the sweeps past the first read and write. They count in the per-byte
  // term, never in the far one: a sweep re-reads what the previous one left in the caches.
  int64_t resweep_bytes = 0;
  // OpenCL (the gpu unit): the work-groups of the op's kernel launch at the default tile (see
  // kClTileFilters), the device's compute units they are spread over (waves = ceil(work_groups /
  // compute_units), CoDL's per-work-group time model), and the kernels it enqueues (a concat copies
  // each input with a launch of its own). PoCL spent tens of us per launch, most of a small op.
  int64_t work_groups = 0;
  int64_t compute_units = 1;
  int64_t launches = 1;
  // OpenCL: the MACs of a 1x1 conv that the lowering runs in the direct conv kernel rather than as a
  // GEMM (strided, padded or grouped; kernels::opencl::conv_runs_as_gemm). On PoCL a strided 1x1 took ~2.5x the GEMM's
  // time per MAC (0.5-0.7 against 0.2-0.3 ns), and ResNet's downsample convs came out at half their run.
  int64_t cl_direct_macs = 0;
  // OpenCL sparse rows (stride 1 along x): a work item computes four pixels of an output row as one
  // float4, so a row of OW pixels runs ceil(OW / 4) * 4 lanes (a 1x1 GEMM-shaped conv: the whole plane
  // as one row). The MACs of the idle lanes: ResNet's 5x5 block-sparse layers (8 lanes for 5 pixels)
  // ran at twice a per-MAC fit, the 10x10 ones (12 for 10) at 1.25x.
  int64_t cl_idle_lane_macs = 0;
  // OpenCL depthwise (set for the gpu unit only): the MACs of the taps that fall inside the input. The
  // kernel skips the padding's taps, so on small planes a 7x7 window does far fewer than 49 (a 3x3
  // map: 9), and the per-MAC term priced ConvNeXt's 6x6 and 3x3 stages at 1.5-2x their run. When set it
  // is the `macs` feature.
  int64_t cl_window_macs = 0;
};

inline constexpr int64_t kNearWeightBytes = int64_t{1} << 20;
// Weights beyond a core's L2 share come from the last-level cache, not DRAM, when everything touched
// between two uses of them (a model's weights and its peak activations; a calibration round's copies)
// fits this share of it. On an EPYC with a 32 MiB (victim) L3, ShuffleNetV2-0.5 at 64 (5.4 MB of weights,
// 0.3 MB of activations) read its 4 MB classifier at 25-53 GB/s, while MnasNet-0.75 (13 MB), a
// ResNet-18 at half width (12 + 4 MB) and every larger model read theirs at 13-18 GB/s: a quarter of
// the last level, not half, is what stays. A far term fitted on the latter priced the former at 2x.
inline constexpr double kLlcHoldsShare = 0.25;
// Whether `reuse_bytes` read between two uses of the same weights stay in a last-level cache of
// `llc_bytes` (false when that is unknown: the far rate is the safe guess).
bool llc_holds(int64_t reuse_bytes, int64_t llc_bytes);
// Where the operands of `k` come from once the cache is known. Weights, once the reuse distance is
// known too: from the last-level cache (no far term) when it holds them, else as the instance was built
// (far beyond L2: DRAM). Activations (a memory-bound op's in + out bytes): from DRAM when they outgrow
// kLlcHoldsShare of the last level (act_far_bytes), else from the caches the ops before them left them in.
void place_operands(KernelInstance& k, int64_t reuse_bytes, int64_t llc_bytes);
// The activation bytes `k` streams from DRAM: as place_operands placed them, or, unplaced (the last
// level unknown), those beyond kNearActBytes.
int64_t act_far_bytes(const KernelInstance& k);
// A GEMM streaming its weights from DRAM overlaps the stream with the MACs on each fetched panel, m
// per weight: the far bytes it is charged are weight_bytes * R / (R + m). On a Zen 4 core ConvNeXt-B's
// MLP GEMMs (4-16 MiB of weights, 9-36 token rows) took 0.2-0.6 of their stream time beyond their
// compute (R = 12 fits both ends), one-row classifiers all of it; charged in full, they ran 20-40% over.
inline constexpr int64_t kGemmStreamHideRows = 12;
// Memory-bound ops whose tensors (read + written) exceed this stream from DRAM rather than from the
// caches, where the last level's size is unknown (place_operands uses kLlcHoldsShare of it); their
// bytes also count in far_bytes. Elementwise ops in context were timed up to 1.7 MiB, and ops of
// full-resolution models (10-40 MiB) ran 30-45% over a per-byte rate fitted on those (8 MiB L3). With
// a 32 MiB L3 (Zen 4), 2.3-3.2 MB residual adds and GELUs ran at 50-57 GB/s, cache speed, which this
// limit priced at DRAM's: +40-57%.
inline constexpr int64_t kNearActBytes = int64_t{2} << 20;

// Output register tile of the conv kernels (filters x pixels): per-tile overheads scale with it.
inline constexpr int64_t kTileFilters = 8;
inline constexpr int64_t kTilePixels = 32;
// The OpenCL conv kernels' default tile: a work item computes one output pixel of kClTileFilters
// filters (sparse rows: of the row's fb filters), in work-groups of kClGroupItems items. The tuned tile
// of a shape may differ; the fitted per-wave cost absorbs a factor common to the class.
inline constexpr int64_t kClTileFilters = 8;
inline constexpr int64_t kClGroupItems = 16;
// A GEMM of [m x k] by [k x n] (a classifier: m = 1), weights [n x k] plus an optional bias.
KernelInstance gemm_instance(int64_t m, int64_t n, int64_t k, int threads, bool bias);
// A dense conv that runs as a GEMM (kernels::dense_conv_gemm_rows > 0): the GEMM above with its images
// or pixels as rows, plus, for pixel rows, the copies a GEMM op does not make (A packed from the input's
// planes and the [pixels][filters] tile buffer transposed into the output) as panel bytes.
KernelInstance conv_gemm_instance(const kernels::ConvShape& s, int threads, bool bias);
// A conv instance from its shape and what its kernel executes / stores (graph-free: the phone
// calibrator and the cost model describe a layer with this one function, and GEMMs with the one above).
KernelInstance conv_instance(const std::string& klass, const kernels::ConvShape& s, int threads, int64_t executed_macs,
                             int64_t weight_bytes);

// A memory-bound kernel (pool, elementwise, concat, resize, copy) moving these activation bytes.
KernelInstance memory_instance(const std::string& klass, int64_t in_bytes, int64_t out_bytes, int threads);
// Classes of compute kernels, whose features are MAC- and tile-based; the others are memory-bound.
bool is_compute_class(const std::string& klass);
// A class some kernel instance is given (compute, memory-bound, dispatch, transfer): what a profile's
// kernel keys may name.
bool is_known_class(const std::string& klass);

// The model terms of a class, in order ("call" is the constant per-call cost).
const std::vector<std::string>& feature_names(const std::string& klass);
// The terms of a class on the gpu unit (CLASS/gpu models): the device's work is priced per MAC and
// byte, per wave of work-groups and per kernel launch, not by the CPU engine's tiles and lanes.
const std::vector<std::string>& gpu_feature_names(const std::string& klass);
const std::vector<std::string>& unit_feature_names(const std::string& klass, bool gpu);
std::map<std::string, double> features_of(const KernelInstance& k, bool gpu = false);
// The terms a class is fitted on when its samples are too few for all of feature_names(klass): a compute
// kernel's MACs (executed and per lane), its streams (activations in and out, its im2col panel, weights
// per tile) and its per-tile and per-call costs; a memory-bound or device class's whole list (already
// that short). Without the panel, dense_convkxk (16-17 samples a thread count) priced 3-channel stems,
// whose im2col of 108-147 taps is most of their time, through their output and weight sweeps: real
// networks' stems ran +12..+22% (ResNet-34, SqueezeNet, DenseNet, ResNeXt at 1 thread; now 0..+4%),
// ConvNeXt's 4x4 s4 stem +77% (now +2%).
const std::vector<std::string>& core_feature_names(const std::string& klass, bool gpu = false);

// Every feature any class uses, in one fixed order: the cost model's hot path evaluates a fitted model
// as a dot product over this array instead of looking names up.
enum FeatureId : int {
  kFMacs, kFInBytes, kFOutBytes, kFWeightBytes, kFTiles, kFActBytes, kFLaneMacs, kFPanelBytes,
  kFWstreamBytes, kFWstreamFar, kFAccBytes, kFStridedLanes, kFStridedTiles, kFMaskedLanes, kFChunkCalls, kFBytes,
  kFFarBytes, kFElements, kFWindow, kFStridedWindow, kFInputs, kFExtraRuns, kFRows, kFWaves, kFLaunches, kFDirectMacs, kFIdleLaneMacs, kFCall,
  kNumFeatures
};
using FeatureVector = std::array<double, kNumFeatures>;
const std::array<const char*, kNumFeatures>& all_feature_names();
int feature_index(const std::string& name);  // -1 when unknown
FeatureVector feature_vector(const KernelInstance& k);

std::string profile_key(const std::string& klass, int threads);  // "dense_conv3x3/t2"
// The inverse: false for a key not of the form CLASS/tN with 1 <= N <= 4096.
bool split_profile_key(const std::string& key, std::string* klass, int* threads);

// Predicted executed MACs and storage bytes of a conv in a format at a ratio, without building masks
// (the cost model's fast path); the kernels report the exact figures once masks exist. Calibration's
// samples carry these too, from both backends: the fit sees the features predictions are made of.
struct SparseFootprint {
  int64_t executed_macs = 0;
  int64_t weight_bytes = 0;  // values + indices + bias
};
SparseFootprint conv_footprint(const kernels::ConvShape& s, const std::string& format, double ratio, int bf, int bc,
                               int entries, bool bias);

}  // namespace hilsim::model
