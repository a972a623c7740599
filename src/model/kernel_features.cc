#include "hilsim/model/kernel_features.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "hilsim/kernels/dense_tiling.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/opencl/cl_kernels.h"
#include "hilsim/kernels/sparse_tiling.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/util/error.h"

namespace hilsim::model {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

KernelInstance memory_instance(const std::string& klass, int64_t in_bytes, int64_t out_bytes, int threads) {
  KernelInstance k;
  k.klass = klass;
  k.threads = threads;
  k.in_bytes = in_bytes;
  k.out_bytes = out_bytes;
  k.work_items = std::max<int64_t>(1, out_bytes / 4096);
  return k;
}

bool is_compute_class(const std::string& k) {
  for (const char* p : {"dense_conv", "depthwise_conv", "sparse_fb", "block_", "pattern_", "csr_", "gemm"})
    if (k.rfind(p, 0) == 0) return true;
  return false;
}

bool is_known_class(const std::string& k) {
  if (is_compute_class(k)) return true;
  for (const char* c : {"pool", "concat", "resize", "copy", "elementwise", "dispatch", "transfer"})
    if (k == c) return true;
  return false;
}

const std::vector<std::string>& feature_names(const std::string& klass) {
  // Compute kernels: time per executed MAC, per byte of each stream (weights are read once per
  // output tile row, activations stream), per output tile, plus a per-call cost (dispatch, packing of
  // the input panel, thread wake-up). Memory-bound kernels: per byte, per element, per call.
  static const std::vector<std::string> compute = {"macs",      "in_bytes",      "out_bytes",   "weight_bytes", "tiles", "act_bytes",
                                                     "lane_macs", "panel_bytes", "wstream_bytes", "wstream_far", "acc_bytes", "strided_lanes",
                                                     "strided_tiles", "masked_lanes", "chunk_calls", "call"};
  // GEMM: its lane MACs and weight streams are one quantity (both count the weights once per 8-row
  // tile), and it has no panels, stride phases or chunks. What it does have is two populations: one-row
  // classifiers, whose tiles are mostly idle rows the ISA may skip, and token GEMMs that fill them, which
  // the MACs beside the lane MACs separate. Fitted on all sixteen conv terms, 14 samples at 2 threads
  // put ConvNeXt's token GEMMs on the input bytes and priced them at 1.5-2.6x their time.
  // Convs that run as GEMMs on small planes also pay their copies (conv_gemm_instance's panel bytes).
  static const std::vector<std::string> gemm = {"macs", "lane_macs", "wstream_far", "out_bytes", "panel_bytes", "tiles", "call"};
  static const std::vector<std::string> memory = {"bytes", "far_bytes", "elements", "call"};
  // Element-wise ops also pay per element of an exp/erf/tanh approximation (graph::OpSpec::math_per_element).
  static const std::vector<std::string> elementwise = {"bytes", "far_bytes", "elements", "act_bytes", "call"};
  // Pooling also pays per window element: a 5x5 stride-1 max pool does ~10 compares per output where
  // a 2x2 stride-2 one does 3, at the same bytes per output.
  // Both pay per inner loop too (KernelInstance::rows).
  static const std::vector<std::string> pool = {"bytes", "far_bytes", "elements", "window", "strided_window", "rows", "call"};
  static const std::vector<std::string> resize = {"bytes", "far_bytes", "elements", "rows", "call"};
  // Strided copies too (kernels::strided_copy_loops): runs of 2 floats cost what runs of 1000 do.
  static const std::vector<std::string> copy = {"bytes", "far_bytes", "elements", "rows", "call"};
  // Concat also pays per input tensor and per contiguous run (KernelInstance::inputs, extra_runs).
  static const std::vector<std::string> concat = {"bytes", "far_bytes", "elements", "inputs", "extra_runs", "call"};
  static const std::vector<std::string> transfer = {"bytes", "call"};
  static const std::vector<std::string> dispatch = {"call"};
  if (klass == "transfer") return transfer;
  if (klass == "dispatch") return dispatch;
  if (klass == "pool") return pool;
  if (klass == "concat") return concat;
  if (klass == "resize") return resize;
  if (klass == "copy") return copy;
  if (klass == "elementwise") return elementwise;
  if (klass == "gemm") return gemm;
  return is_compute_class(klass) ? compute : memory;
}

const std::vector<std::string>& gpu_feature_names(const std::string& klass) {
  // A launch (enqueue, PoCL's scheduling, the event wait) is a term of its own; a compute kernel also
  // pays per wave of work-groups (small late layers pad their few pixels up to whole groups) and per
  // byte of each stream; SiLU's exp is priced as on the CPU.
  static const std::vector<std::string> compute = {"macs",      "in_bytes", "out_bytes",   "weight_bytes",
                                                     "waves",     "act_bytes", "direct_macs", "idle_lane_macs",
                                                     "launches"};
  static const std::vector<std::string> memory = {"bytes", "far_bytes", "elements", "launches"};
  static const std::vector<std::string> pool = {"bytes", "elements", "window", "strided_window", "launches"};
  // A concat along an inner axis launches a 2-D copy of outer x (the input's piece) per input: a
  // detector head's per-pixel pieces of 1-128 floats ran at 1.3-3.7x a per-byte-and-launch fit.
  static const std::vector<std::string> concat = {"bytes", "extra_runs", "launches"};
  if (klass == "pool") return pool;
  if (klass == "concat") return concat;
  if (is_compute_class(klass)) return compute;
  if (klass == "transfer" || klass == "dispatch") return feature_names(klass);
  return memory;
}

const std::vector<std::string>& core_feature_names(const std::string& klass, bool gpu) {
  static const std::vector<std::string> compute = {"macs", "lane_macs", "in_bytes", "out_bytes", "panel_bytes", "wstream_bytes", "tiles", "call"};
  if (gpu || klass == "gemm" || !is_compute_class(klass)) return unit_feature_names(klass, gpu);
  return compute;
}

const std::vector<std::string>& unit_feature_names(const std::string& klass, bool gpu) {
  return gpu ? gpu_feature_names(klass) : feature_names(klass);
}

const std::array<const char*, kNumFeatures>& all_feature_names() {
  static const std::array<const char*, kNumFeatures> n = {
      "macs",          "in_bytes",    "out_bytes",  "weight_bytes",  "tiles", "act_bytes", "lane_macs", "panel_bytes",
      "wstream_bytes", "wstream_far", "acc_bytes",  "strided_lanes", "strided_tiles", "masked_lanes", "chunk_calls", "bytes", "far_bytes", "elements",  "window",
      "strided_window", "inputs", "extra_runs", "rows", "waves", "launches", "direct_macs", "idle_lane_macs", "call"};
  return n;
}

int feature_index(const std::string& name) {
  const auto& n = all_feature_names();
  for (int i = 0; i < kNumFeatures; ++i)
    if (name == n[static_cast<size_t>(i)]) return i;
  return -1;
}

FeatureVector feature_vector(const KernelInstance& k) {
  FeatureVector f{};
  auto d = [](int64_t v) { return static_cast<double>(v); };
  if (k.klass == "transfer") {
    f[kFBytes] = d(k.in_bytes);
  } else if (is_compute_class(k.klass)) {
    f[kFMacs] = d(k.cl_window_macs > 0 ? k.cl_window_macs : k.executed_macs);
    f[kFInBytes] = d(k.in_bytes);
    f[kFOutBytes] = d(k.out_bytes);
    f[kFWeightBytes] = d(k.weight_bytes);
    f[kFTiles] = d(k.out_tiles);
    f[kFActBytes] = d(k.act_bytes);
    f[kFLaneMacs] = d(k.lane_macs);
    f[kFPanelBytes] = d(k.panel_bytes);
    f[kFWstreamBytes] = d(k.wstream_bytes);
    f[kFWstreamFar] = d(k.wstream_far_bytes);
    f[kFAccBytes] = d(k.acc_bytes);
    f[kFStridedLanes] = d(k.strided_lane_macs);
    f[kFStridedTiles] = d(k.strided_tiles);
    f[kFMaskedLanes] = d(k.masked_lane_macs);
    f[kFChunkCalls] = d(k.chunk_calls);
    // The busiest thread's work, in units of an even share: a 6x6 DenseNet layer with one item ran at its
    // one-thread time on 2 threads (the t2 fit's rates are per even share).
    if (k.threads > 1 && k.work_items > 0) {
      const double critical = kernels::ThreadPool::busiest_share(k.work_items, k.threads) * k.threads;
      for (int i = kFMacs; i <= kFChunkCalls; ++i) f[static_cast<size_t>(i)] *= critical;
    }
  } else {
    f[kFBytes] = d(k.in_bytes + k.out_bytes + k.resweep_bytes);
    f[kFFarBytes] = d(act_far_bytes(k));
    f[kFElements] = d(k.out_bytes / 4);
    f[kFActBytes] = d(k.act_bytes);
    f[kFWindow] = d(k.window_ops);
    f[kFStridedWindow] = d(k.strided_window_ops);
    f[kFInputs] = d(k.inputs);
    f[kFExtraRuns] = d(k.extra_runs);
    f[kFRows] = d(k.rows);
  }
  f[kFWaves] = d(ceil_div(k.work_groups, std::max<int64_t>(1, k.compute_units)));
  f[kFLaunches] = d(k.launches);
  f[kFDirectMacs] = d(k.cl_direct_macs);
  f[kFIdleLaneMacs] = d(k.cl_idle_lane_macs);
  f[kFCall] = 1.0;
  return f;
}

std::map<std::string, double> features_of(const KernelInstance& k, bool gpu) {
  const FeatureVector v = feature_vector(k);
  std::map<std::string, double> f;
  for (const auto& name : unit_feature_names(k.klass, gpu)) f[name] = v[static_cast<size_t>(feature_index(name))];
  return f;
}

KernelInstance conv_instance(const std::string& klass, const kernels::ConvShape& s, int threads, int64_t executed_macs,
                             int64_t weight_bytes) {
  KernelInstance k;
  k.klass = klass;
  k.threads = threads;
  k.macs = s.macs();
  k.executed_macs = executed_macs;
  k.in_bytes = s.n * s.c * s.h * s.w * 4;
  k.out_bytes = s.n * s.f * s.out_h() * s.out_w() * 4;
  k.weight_bytes = weight_bytes;
  const int64_t pixels = s.n * s.out_h() * s.out_w();
  // OpenCL: one work item per output pixel of a filter tile (sparse: a row of fb filters; depthwise:
  // one plane), work-groups of kClGroupItems.
  const int64_t fb_parsed = klass.rfind("sparse_fb", 0) == 0 ? std::max<int64_t>(1, std::atoll(klass.c_str() + 9)) : 0;
  const int64_t cl_filter_tiles = klass.rfind("depthwise_conv", 0) == 0 ? s.c : ceil_div(s.f, fb_parsed > 0 ? fb_parsed : kClTileFilters);
  k.work_groups = s.n * cl_filter_tiles * ceil_div(s.out_h() * s.out_w(), kClGroupItems);
  if (klass == "dense_conv1x1" && !kernels::opencl::conv_runs_as_gemm(s)) k.cl_direct_macs = executed_macs;
  if (fb_parsed > 0 && s.stride_w == 1 && pixels > 0) {
    const int64_t plane = s.out_h() * s.out_w();
    const int64_t lanes = kernels::opencl::conv_runs_as_gemm(s) ? ceil_div(plane, 4) * 4 : s.out_h() * ceil_div(s.out_w(), 4) * 4;
    k.cl_idle_lane_macs = executed_macs / pixels * (lanes - plane) * s.n;
  }
  if (klass.rfind("sparse_fb", 0) == 0) {
    // The sparse engine (kernels/block_sparse_conv): items are rows of fb filters x tiles of T
    // flattened stride-phase pixels; a non-direct conv first copies the padded input into stride
    // phases; tiles whose input over all channels outgrows L1 run channel chunk by chunk.
    int64_t fb = 0;  // "sparse_fbN"; parsed by hand, this runs once per layer of every query
    for (size_t i = 9; i < klass.size() && klass[i] >= '0' && klass[i] <= '9'; ++i) fb = fb * 10 + (klass[i] - '0');
    fb = std::max<int64_t>(1, fb);
    // The engine's own tiling rule (tile width, planes, channel chunks), not a copy of it.
    const kernels::SparseTiling tiling = kernels::sparse_tiling(s, static_cast<int>(fb));
    const bool direct = tiling.direct;
    const int64_t hq = tiling.hq, wq = tiling.wq, span = tiling.span;
    const int64_t t = tiling.width;
    const int64_t tiles_per_row = tiling.tiles;
    const int64_t rows = ceil_div(s.f, fb);
    k.out_tiles = rows * tiles_per_row * s.n;
    const int64_t kept_per_pixel = pixels > 0 ? executed_macs / pixels : 0;
    k.lane_macs = kept_per_pixel * tiles_per_row * t * s.n;
    if (s.stride_h * s.stride_w > 1) k.strided_lane_macs = k.lane_macs, k.strided_tiles = k.out_tiles;
    k.wstream_bytes = weight_bytes * tiles_per_row * s.n;
    const int64_t phases = s.stride_h * s.stride_w;
    if (!direct) k.panel_bytes = 4 * phases * s.c * hq * wq * s.n;
    const int64_t chunks = tiling.chunks;
    if (chunks > 1) k.acc_bytes = k.out_tiles * chunks * fb * t * 4, k.chunk_calls = k.out_tiles * (chunks - 1);
    // In place, the last tile of each row ends at the plane's end (a padded copy has zeroed slack instead).
    if (direct && span % t != 0) k.masked_lane_macs = kept_per_pixel * t * s.n;
  } else if (klass.rfind("dense_conv", 0) == 0) {
    // The GEMM conv: 8 x 32 register tiles over filters x pixel strips, K = C/groups x kh x kw; edge
    // tiles compute padding lanes (a strip tail of <= 16 pixels only the half tile's), every strip
    // builds an im2col panel and re-reads the weights. Row strips (implicit GEMM on every ISA) copy the
    // zero-padded input once instead of building panels; pixel rows (small planes) swap the tile's
    // roles, read the weights once and copy the input's rows and the transposed output. The kernel's own
    // rule (kernels/dense_tiling), lanes, copies and weight sweeps alike.
    const kernels::DenseTiling t = kernels::dense_tiling(s);
    const int64_t kdim = (s.c / s.groups) * s.kh * s.kw;
    const int64_t planes = s.n * s.groups;
    k.out_tiles = planes * t.row_tiles * t.col_tiles;
    k.lane_macs = planes * t.filter_lanes * t.pixel_lanes * kdim;
    k.panel_bytes = planes * t.panel_floats * 4;
    k.wstream_bytes = weight_bytes * t.weight_sweeps * s.n;
    k.work_items = kernels::dense_split(s, t, threads).items;  // the kernel's own split of this tiling
  } else if (klass.rfind("depthwise_conv", 0) == 0 && kernels::depthwise_uses_channel_lanes(s)) {
    // The channel-lanes kernel (kernels/depthwise_conv, the same rule): groups of kDwChannelLanes
    // channels, each transposed into a padded tile and its output back (the bytes of both count as
    // panel bytes), every output pixel one full-width FMA per tap on the map (border taps skipped) with
    // no gather at stride 2; a partial last group computes idle lanes.
    const auto [OH, OW, ph, pw] = kernels::depthwise_padded_plane(s);
    const int64_t lanes = s.n * ceil_div(s.c, kernels::kDwChannelLanes) * kernels::kDwChannelLanes;
    k.out_tiles = s.n * ceil_div(s.c, kernels::kDwChannelLanes) * OH;
    k.lane_macs = lanes * kernels::depthwise_lanes_taps(s);
    k.panel_bytes = 4 * lanes * (ph * pw + OH * OW);
    k.work_items = s.n * ceil_div(s.c, kernels::kDwChannelLanes);
    return k;
  } else if (klass.rfind("depthwise_conv", 0) == 0) {
    // The row kernel (kernels/depthwise_conv): each plane is first copied into a zeroed padded plane,
    // then swept in steps of kDwRowBlock output rows x kDwRowLanes outputs (the kernels' own blocking,
    // the same on every vector ISA); a step loads its input rows once for all its rows, and a row's last
    // step computes idle lanes. A MAC count alone charged a 7x7 plane like a seventh of a 49-wide row,
    // and stride 2 the same per lane as stride 1 though it costs more per lane: its copy splits the
    // plane into even and odd columns (depthwise_rows_split_columns), whose bytes are the padded
    // plane's, and the strided terms fit what that costs per lane and per step.
    const auto [OH, OW, ph, pw] = kernels::depthwise_padded_plane(s);
    const int64_t planes = s.n * s.c;
    k.out_tiles = planes * ceil_div(OH, kernels::kDwRowBlock) * ceil_div(OW, kernels::kDwRowLanes);
    k.lane_macs = planes * OH * ceil_div(OW, kernels::kDwRowLanes) * kernels::kDwRowLanes * s.kh * s.kw;
    if (s.stride_w > 1) k.strided_lane_macs = k.lane_macs, k.strided_tiles = k.out_tiles;
    k.panel_bytes = 4 * planes * ph * pw;
    k.work_items = planes;
    return k;
  } else {
    k.out_tiles = ceil_div(s.f, kTileFilters) * ceil_div(pixels, kTilePixels);
  }
  // Far weight streams cost extra on top of the near rate (additive, so a class calibrated without
  // far-weight layers still charges them the near rate rather than nothing). Inside a model every
  // layer's first sweep comes from beyond the private caches (the rest of the model ran in between);
  // weights beyond a core's L2 share do so on every sweep. place_operands() says whether "beyond" is
  // the last level (no extra) or DRAM.
  k.wstream_far_bytes = weight_bytes > kNearWeightBytes ? k.wstream_bytes : weight_bytes;
  if (k.work_items == 0) k.work_items = k.out_tiles;
  return k;
}

bool llc_holds(int64_t reuse_bytes, int64_t llc_bytes) {
  return llc_bytes > 0 && static_cast<double>(reuse_bytes) <= kLlcHoldsShare * static_cast<double>(llc_bytes);
}

void place_operands(KernelInstance& k, int64_t reuse_bytes, int64_t llc_bytes) {
  if (llc_holds(reuse_bytes, llc_bytes)) k.wstream_far_bytes = 0;
  if (llc_bytes > 0) k.act_far_bytes = llc_holds(k.in_bytes + k.out_bytes, llc_bytes) ? 0 : k.in_bytes + k.out_bytes;
}

int64_t act_far_bytes(const KernelInstance& k) {
  if (k.act_far_bytes >= 0) return k.act_far_bytes;
  return k.in_bytes + k.out_bytes > kNearActBytes ? k.in_bytes + k.out_bytes : 0;
}

KernelInstance gemm_instance(int64_t m, int64_t n, int64_t k, int threads, bool bias) {
  KernelInstance g;
  g.klass = "gemm";
  g.threads = threads;
  g.macs = g.executed_macs = m * n * k;
  g.in_bytes = m * k * 4;
  g.out_bytes = m * n * 4;
  g.weight_bytes = (n * k + (bias ? n : 0)) * 4;
  g.out_tiles = ceil_div(n, kTilePixels) * ceil_div(m, kTileFilters);
  // The packed weights are read once per row tile (kernels/gemm: every 8-row tile sweeps all of them);
  // the first sweep streams from beyond the private caches (in a model a 1 MB classifier ran at DRAM
  // rates like a 64 MB one), the later ones find each column panel in L2. Register tiles of 8 rows x 32
  // columns, of which a thin tile computes 2 or 4 rows (one rule for every ISA's kernel).
  g.wstream_bytes = g.weight_bytes * ceil_div(m, kTileFilters);
  // The first sweep; the panels are reused across row tiles. Its DRAM time hides under the MACs that
  // each fetched panel feeds, m per weight: only the exposed share counts (kGemmStreamHideRows).
  g.wstream_far_bytes = std::llround(static_cast<double>(g.weight_bytes) * static_cast<double>(kGemmStreamHideRows) /
                                     static_cast<double>(kGemmStreamHideRows + std::max<int64_t>(m, 1)));
  g.lane_macs = kernels::gemm_rows_computed(m) * ceil_div(n, kTilePixels) * kTilePixels * k;
  g.work_items = g.out_tiles;
  return g;
}

KernelInstance conv_gemm_instance(const kernels::ConvShape& s, int threads, bool bias) {
  KernelInstance g = gemm_instance(kernels::dense_conv_gemm_rows(s), s.f, s.c, threads, bias);
  // A 1x1 map runs on the GEMM itself (no copies); pixel rows pack A and transpose the tile buffer. As
  // out_bytes alone, ConvNeXt's token MatMuls, which write C in place, paid for those copies: +16..+25%.
  if (!kernels::dense_conv_runs_as_gemm(s)) g.panel_bytes = s.n * s.groups * kernels::dense_tiling(s).panel_floats * 4;
  return g;
}

std::string profile_key(const std::string& klass, int threads) { return klass + "/t" + std::to_string(threads); }

bool split_profile_key(const std::string& key, std::string* klass, int* threads) {
  const auto slash = key.rfind("/t");
  if (slash == std::string::npos) return false;
  const int t = std::atoi(key.c_str() + slash + 2);
  if (t <= 0 || t > 4096) return false;
  *klass = key.substr(0, slash);
  *threads = t;
  return true;
}

SparseFootprint conv_footprint(const kernels::ConvShape& s, const std::string& format, double ratio, int bf, int bc,
                               int entries, bool bias) {
  SparseFootprint fp;
  const int64_t w = s.weight_count();
  const int64_t bias_bytes = bias ? s.f * 4 : 0;
  ratio = std::clamp(ratio, 0.0, 1.0);
  if (format == "dense" || format.empty()) {
    fp.executed_macs = s.macs();
    fp.weight_bytes = w * 4 + bias_bytes;
  } else if (format == "block" || format == "block_col") {
    // Kept units are whole kernel positions of a bf x bc block (or columns of bf filters): the kept
    // fraction is 1 - ratio to the unit granularity. Storage: values + one int32 input-column index per
    // kept column of each block row.
    const int64_t cg = s.c / s.groups;
    const int64_t units = format == "block" ? ceil_div(s.f, bf) * ceil_div(cg, bc) * s.kh * s.kw
                                            : ceil_div(s.f, bf) * cg * s.kh * s.kw;
    const int64_t kept_units = units - std::llround(ratio * static_cast<double>(units));
    const double kept = units ? static_cast<double>(kept_units) / static_cast<double>(units) : 0.0;
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * kept);
    // Packed rows of min(bf, 16) filters store each kept column of their block (exact when c is a
    // multiple of bc and f of bf for 32-filter blocks; else off by edge blocks only).
    const int fb = std::min(bf, 16);
    const int64_t rows = ceil_div(s.f, fb);
    const int64_t kept_cols = std::llround(static_cast<double>(rows * cg * s.kh * s.kw) * kept);
    fp.weight_bytes = kernels::sparse_weight_bytes(rows, kept_cols, fb) + bias_bytes;
  } else if (format == "pattern") {
    const double kept = static_cast<double>(entries) / 9.0;
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * kept);
    const int64_t kernels = s.kh * s.kw == 9 ? s.f * (s.c / s.groups) : s.f * ceil_div(s.c / s.groups, 9);
    // One-filter rows keep `entries` columns per kernel; a 1x1's trailing group of < 9 is pruned.
    const int64_t kept_kernels = s.kh * s.kw == 9 ? kernels : s.f * ((s.c / s.groups) / 9);
    fp.weight_bytes = kernels::sparse_weight_bytes(s.f, kept_kernels * entries, 1) + bias_bytes;
  } else if (format == "csr") {
    const int64_t nnz = w - std::llround(ratio * static_cast<double>(w));
    fp.executed_macs = std::llround(static_cast<double>(s.macs()) * (1.0 - ratio));
    fp.weight_bytes = kernels::sparse_weight_bytes(s.f, nnz, 1) + bias_bytes;
  } else {
    throw Error("format '" + format + "'", "unknown storage format");
  }
  return fp;
}

}  // namespace hilsim::model
