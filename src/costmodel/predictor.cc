#include "hilsim/costmodel/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "hilsim/analysis/analysis.h"
#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/costmodel/simulator.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/gpu_lowering.h"
#include "hilsim/util/error.h"

namespace hilsim::costmodel {

namespace {

int64_t largest_cache(const model::Profile& p) {
  int64_t b = 0;
  for (const auto& c : p.device.caches) b = std::max(b, c.bytes);
  return b > 0 ? b : 1 << 20;
}

}  // namespace

struct Predictor::Impl {
  // One query at a time: the per-op cache, the memos and the scratch below are shared mutable state
  // (a Python search calls predict() from threads with the GIL released). Uncontended, the lock costs
  // ~20 ns against a 5 us incremental query; per-thread caches would multiply the memory per predictor.
  std::mutex mu;
  model::Profile profile;
  PredictorOptions opts;
  graph::Graph g;
  struct Node {
    std::string name, type;
    graph::OpId id = 0;
    bool conv = false, gemm = false;
    kernels::ConvShape shape;
    graph::Activation act = graph::Activation::kNone;
    bool bias = false;
    int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
    int64_t in_bytes = 0, out_bytes = 0, weight_bytes = 0;
    int64_t macs = 0;
    // On a gpu unit (runtime::gpu_kernel_of): whether the op runs on the unit's host thread (no OpenCL
    // kernel takes it), and the copies the executor makes in this op's step when every op is on that
    // unit: a device op uploads what the host made (graph inputs, host ops' outputs; at its first device
    // reader) and downloads what the host reads (graph outputs, host ops' inputs). A host op copies nothing.
    bool gpu_host = false;
    int gpu_copies = 0;
    int64_t gpu_copy_bytes = 0;
    // Each of those copies: the host op at its other end (kNoPeer: a graph input or output) and its bytes.
    // Where that host op runs on another unit, the copy is the simulator's crossing, not this op's.
    std::vector<std::pair<size_t, int64_t>> gpu_copy_peers;
    std::vector<size_t> deps;
    std::vector<int64_t> dep_bytes;
  };
  static constexpr size_t kNoPeer = static_cast<size_t>(-1);
  std::vector<Node> nodes;
  std::unordered_map<std::string, size_t> index;
  std::string default_unit;
  std::optional<kernels::Isa> isa;  // the profile's dispatch path: names the kernels its machine runs
  int64_t activation_peak = 0;
  int64_t llc = 0;
  // Far weight streams come from the last-level cache when the model's weights and peak activations stay
  // there between runs (model::place_operands); the profile's caches are the target's.
  int64_t weight_reuse_bytes = 0, profile_llc = 0;
  double corun_ = 0;  // the simulator's co-run slowdown (costmodel::corun_slowdown of the profile)
  // Cache of per-op predictions by (node, exact setting, unit). The key keeps the ratio's bits: a
  // printed key would merge ratios that differ past its sixth digit and answer for the wrong one.
  struct CacheKey {
    size_t node = 0;
    int format = 0, bf = 0, bc = 0, entries = 0;
    double ratio = 0;
    std::string unit;
    bool has_ls = false, explicit_layer = false;
    bool operator==(const CacheKey& o) const {
      return node == o.node && format == o.format && bf == o.bf && bc == o.bc && entries == o.entries &&
             ratio == o.ratio && unit == o.unit && has_ls == o.has_ls && explicit_layer == o.explicit_layer;
    }
  };
  struct CacheKeyHash {
    size_t operator()(const CacheKey& k) const {
      size_t h = k.node * 0x9e3779b97f4a7c15ULL;
      auto mix = [&h](uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
      uint64_t rb = 0;
      std::memcpy(&rb, &k.ratio, sizeof rb);
      mix(static_cast<uint64_t>(k.format) | static_cast<uint64_t>(k.bf) << 8 | static_cast<uint64_t>(k.bc) << 24 |
          static_cast<uint64_t>(k.entries) << 40 | static_cast<uint64_t>(k.has_ls) << 48 |
          static_cast<uint64_t>(k.explicit_layer) << 49);
      mix(rb);
      mix(std::hash<std::string>()(k.unit));
      return h;
    }
  };
  static CacheKey make_key(size_t node, const runtime::LayerSparsity* ls, const std::string& unit, bool explicit_layer) {
    CacheKey k;
    k.node = node;
    k.unit = unit;
    k.explicit_layer = explicit_layer;
    if (ls) {
      k.has_ls = true;
      k.format = static_cast<int>(ls->format);
      // Fields a format ignores stay out of the key, so equal settings share one entry.
      const bool blocky = ls->format == runtime::Format::kBlock || ls->format == runtime::Format::kBlockCol;
      if (blocky) k.bf = ls->bf, k.bc = ls->bc;
      if (blocky || ls->format == runtime::Format::kCsr) k.ratio = ls->ratio;
      if (ls->format == runtime::Format::kPattern) k.entries = ls->entries;
    }
    return k;
  }
  static constexpr size_t kCacheCap = size_t{1} << 13;  // small enough to stay in cache
  std::unordered_map<CacheKey, OpPrediction, CacheKeyHash> cache;
  // Per node, the setting last predicted and where its prediction lives: a search that changes one
  // layer finds the others here without building cache keys.
  struct Memo {
    bool valid = false, has_ls = false, explicit_layer = false;
    runtime::LayerSparsity ls;
    std::string unit;
    const OpPrediction* pred = nullptr;
  };
  std::vector<Memo> memo;
  // The unit evaluate() resolved last (almost every op of a config runs on the same one).
  std::string last_unit_id;
  const model::UnitSpec* last_unit = nullptr;
  int last_unit_threads = 1;
  int64_t evaluations = 0;
  // The profile's models resolved to feature slots, by "class/tN".
  std::unordered_map<std::string, model::CompiledModel> compiled;
  // The same models by class, indexed by thread count (nullptr where none): the hot path looks a
  // class up without building its "class/tN" key.
  std::unordered_map<std::string, std::vector<const model::CompiledModel*>> by_class;
  // Models of the gpu unit ("CLASS/gpu"), by class.
  std::unordered_map<std::string, const model::CompiledModel*> by_gpu_class;
  // Per node, the config's own setting for it (nullptr: the uniform one or none); reused per query.
  std::vector<const runtime::LayerSparsity*> layer_of;
  std::vector<std::pair<std::string, size_t>> last_names;

  // The executor's per-op cost at a thread count (0 when the profile has no dispatch model).
  std::vector<double> dispatch_by_threads;
  double dispatch_ms(int threads) {
    if (threads >= static_cast<int>(dispatch_by_threads.size())) {
      const size_t old = dispatch_by_threads.size();
      dispatch_by_threads.resize(static_cast<size_t>(threads) + 1, 0.0);
      for (size_t t = old; t < dispatch_by_threads.size(); ++t) {
        auto d = compiled.find(model::profile_key("dispatch", static_cast<int>(t)));
        dispatch_by_threads[t] = d != compiled.end() ? d->second.coef[model::kFCall] : 0.0;
      }
    }
    return dispatch_by_threads[static_cast<size_t>(threads)];
  }

  int threads_of(const std::string& unit_id) const {
    const model::UnitSpec* u = profile.unit(unit_id);
    if (unit_id == default_unit && opts.threads > 0) return opts.threads;
    return u ? std::max(1, u->threads) : std::max(1, opts.threads);
  }

  void build() {
    graph::passes::canonicalize(g);
    if (profile.units.empty()) throw Error("profile", "has no units");
    default_unit = opts.default_unit.empty() ? profile.units[0].id : opts.default_unit;
    if (!profile.unit(default_unit)) throw Error("--unit '" + default_unit + "'", "the profile has no such unit");
    // 0 is the unit's own count (the C++ default); anything else must be a count the unit can run.
    const int limit = max_threads(profile, default_unit);
    if (opts.threads < 0 || opts.threads > limit)
      throw Error("threads " + std::to_string(opts.threads),
                  "must be in 1.." + std::to_string(limit) + " (4x the cores of unit '" + default_unit + "')");
    llc = largest_cache(profile);
    profile_llc = model::last_level_cache_bytes(profile.device.caches);
    corun_ = corun_slowdown(profile.device.speed_reference);
    isa = model::dispatch_isa(profile.device);
    for (const auto& [key, m] : profile.kernels) compiled.emplace(key, model::compile_model(m, "profile: kernel '" + key + "'"));
    for (const auto& [key, m] : compiled) {
      std::string klass;
      int t = 0;
      if (model::split_gpu_profile_key(key, &klass)) {
        by_gpu_class[klass] = &m;
        continue;
      }
      if (!model::split_profile_key(key, &klass, &t)) continue;
      auto& v = by_class[klass];
      if (v.size() <= static_cast<size_t>(t)) v.resize(static_cast<size_t>(t) + 1, nullptr);
      v[static_cast<size_t>(t)] = &m;
    }
    // The OpenCL lowering runs a 5x5 or 7x7 conv in the same kernel as a 3x3 (one depthwise kernel and
    // one direct kernel for every size; MACs carry the taps), so a gpu unit calibrated without such a
    // class prices it with the 3x3's model. Without this, EfficientNet's and MnasNet's 5x5 and ConvNeXt's
    // 7x7 depthwise layers were priced as the host's CPU kernel plus copies though they ran on the device.
    for (const std::string& c : calibration::calibration_classes()) {
      auto sib = by_gpu_class.find(calibration::sibling_class(c));
      if (!by_gpu_class.count(c) && sib != by_gpu_class.end()) by_gpu_class[c] = sib->second;
    }
    const auto order = g.topological_order();
    std::unordered_map<std::string, size_t> producer;
    for (graph::OpId id : order) {
      const graph::Op& op = g.op(id);
      Node n;
      n.name = op.name;
      n.type = op.type;
      n.id = id;
      const analysis::OpFacts f = analysis::analyze_op(g, id);
      n.macs = f.macs;
      for (const auto& in : op.inputs) {
        if (in.empty()) continue;
        const graph::TensorInfo* t = g.tensor_info(in);
        const int64_t b = t && t->known ? std::max<int64_t>(0, graph::numel(t->shape)) * graph::dtype_size(t->dtype) : 0;
        if (g.is_constant(in)) {
          n.weight_bytes += b;
        } else {
          n.in_bytes += b;
          auto p = producer.find(in);
          if (p != producer.end()) {
            n.deps.push_back(p->second);
            n.dep_bytes.push_back(b);
          }
        }
      }
      n.out_bytes = f.bytes_written;
      if (op.type == "Conv" && g.is_constant(op.inputs.at(1))) {
        n.conv = true;
        n.shape = runtime::conv_shape_of(g, op);
        n.bias = op.input(2).has_value();
        n.act = op.fused.kind;
      } else if ((op.type == "Gemm" || op.type == "MatMul") && op.inputs.size() >= 2 && g.is_constant(op.inputs[1])) {
        const graph::Shape& b = g.shape(op.inputs[1]);
        if (b.size() == 2) {
          n.gemm = true;
          const bool tb = op.type == "Gemm" && op.attr_int("transB", 0) != 0;
          n.gemm_n = tb ? b[0] : b[1];
          n.gemm_k = tb ? b[1] : b[0];
          n.gemm_m = graph::numel(g.shape(op.inputs[0])) / std::max<int64_t>(1, n.gemm_k);
          n.bias = op.type == "Gemm" && op.input(2).has_value();
        }
      }
      for (const auto& o : op.outputs) producer[o] = nodes.size();
      index[n.name] = nodes.size();
      nodes.push_back(std::move(n));
    }
    activation_peak = analysis::peak_activation_bytes(g, order);
    weight_reuse_bytes = model::graph_weight_bytes(g) + activation_peak;  // model::graph_reuse_bytes
    if (std::any_of(profile.units.begin(), profile.units.end(), [](const model::UnitSpec& u) { return u.kind == "gpu"; }))
      plan_gpu_copies();
  }

  // Which ops a gpu unit leaves on its host thread and where the copies fall (Node::gpu_host): a host
  // op priced as a device kernel (ConvNeXt's LayerNorms, GELUs and permutes, ShuffleNet's splits and
  // shuffles) was charged the device's rate and none of the copies around it.
  void plan_gpu_copies() {
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < nodes.size(); ++i) {
      Node& n = nodes[i];
      const graph::Op& op = g.op(n.id);
      try {
        n.gpu_host = runtime::gpu_kernel_of(g, op).rfind("host_", 0) == 0;
      } catch (const Error&) {
        n.gpu_host = true;  // an op the CPU lowering cannot take either runs the reference, on the host
      }
      for (const auto& o : op.outputs) producer[o] = i;
    }
    auto bytes_of = [&](const std::string& t) {
      const graph::TensorInfo* ti = g.tensor_info(t);
      return ti && ti->known ? std::max<int64_t>(0, graph::numel(ti->shape)) * graph::dtype_size(ti->dtype) : int64_t{0};
    };
    std::unordered_map<std::string, bool> uploaded;
    std::unordered_map<std::string, size_t> host_reads;  // tensor -> its first host reader (kNoPeer: a graph output)
    for (size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].gpu_host)
        for (const auto& in : g.op(nodes[i].id).inputs) host_reads.emplace(in, i);
    for (const auto& o : g.outputs()) host_reads[o] = kNoPeer;
    for (Node& n : nodes) {
      if (n.gpu_host) continue;
      const graph::Op& op = g.op(n.id);
      for (const auto& in : op.inputs) {
        if (in.empty() || g.is_constant(in) || uploaded[in]) continue;
        auto p = producer.find(in);
        if (p != producer.end() && !nodes[p->second].gpu_host) continue;
        uploaded[in] = true;
        ++n.gpu_copies, n.gpu_copy_bytes += bytes_of(in);
        n.gpu_copy_peers.emplace_back(p == producer.end() ? kNoPeer : p->second, bytes_of(in));
      }
      for (const auto& o : op.outputs) {
        auto r = o.empty() ? host_reads.end() : host_reads.find(o);
        if (r == host_reads.end()) continue;
        ++n.gpu_copies, n.gpu_copy_bytes += bytes_of(o);
        n.gpu_copy_peers.emplace_back(r->second, bytes_of(o));
      }
    }
  }

  // The one-thread CPU unit a gpu unit's host ops run like: the one on the unit's own core, else any.
  // Their compute ceiling is a core's, not the device's (PoCL's peak lay below one core's GEMM rate, and
  // the ceiling put ConvNeXt's token GEMMs at the device's speed).
  const model::UnitSpec& host_core(const model::UnitSpec& gpu) const {
    const model::UnitSpec* any = nullptr;
    for (const auto& c : profile.units) {
      if (c.kind != "cpu" || c.threads != 1) continue;
      if (!gpu.cpus.empty() && c.cpus == gpu.cpus) return c;
      if (!any) any = &c;
    }
    return any ? *any : gpu;
  }

  // ms of an instance on a unit: the fitted model for the class at this thread count, else the
  // nearest thread count scaled, else the unit's roofline.
  // On a gpu unit: the class's CLASS/gpu model, never a CPU one (the device's speed has nothing to do
  // with the cores'), else the roofline where the profile allows it.
  double latency(const model::KernelInstance& k, const model::UnitSpec& u, OpPrediction& p, bool gpu) const {
    const model::CompiledModel* model = nullptr;
    double scale = 1.0;
    auto bc = gpu ? by_class.end() : by_class.find(k.klass);
    if (gpu) {
      auto m = by_gpu_class.find(k.klass);
      if (m != by_gpu_class.end()) model = m->second;
    }
    if (bc != by_class.end()) {
      const auto& v = bc->second;
      if (k.threads > 0 && static_cast<size_t>(k.threads) < v.size()) model = v[static_cast<size_t>(k.threads)];
      if (!model) {
        // Nearest calibrated thread count, scaled by the thread ratio for compute kernels.
        int best = -1;
        for (size_t t = 1; t < v.size(); ++t)
          if (v[t] && (best < 0 || std::abs(static_cast<int>(t) - k.threads) < std::abs(best - k.threads)))
            best = static_cast<int>(t);
        if (best > 0) {
          model = v[static_cast<size_t>(best)];
          scale = model::is_compute_class(k.klass) ? static_cast<double>(best) / k.threads : 1.0;
          p.extrapolated = true;
        }
      }
    }
    if (model) {
      bool extra = false;
      const double ms = model->evaluate(model::feature_vector(k), &extra);
      p.extrapolated = p.extrapolated || extra;
      p.model = "fitted";
      // No kernel beats the unit's compute ceiling: a linear fit driven outside its samples (a feature
      // it never saw vary) can fall towards zero, and a planner would pick exactly those options.
      const double per_thread = u.peak_gflops > 0 ? u.peak_gflops / std::max(1, gpu ? 1 : u.threads) : 0;
      const double ceiling_ms =
          per_thread > 0 ? 2e-6 * static_cast<double>(k.executed_macs) / (per_thread * std::max(1, k.threads)) : 0;
      // Nor streams its far weights (their first sweep) faster than the unit's measured DRAM bandwidth
      // where the model's weights outgrow the whole last level, so that DRAM is certainly where they
      // come from. At 2 threads the gemm fit, led by L3-resident and compute-bound samples, priced the
      // classifier heads of ResNeXt-101, DenseNet-161, RegNetY-1.6GF and EfficientNet-B2 (3.5-8.8 MB,
      // models of 36-350 MB) at 1.6-1.7x the speed they ran (33-35 GB/s); the floor at the measured
      // 31.6 GB/s puts them at -4..+3%. A model that fits the last level is left to the fit: MobileNetV3's
      // 5 MB heads (a 16 MB model) ran at 73-96 GB/s on 2 threads, from the L3 (AMD EPYC Zen 4).
      const bool weights_in_dram = profile_llc <= 0 || weight_reuse_bytes > profile_llc;
      const double far_weight_bytes = static_cast<double>(std::min(k.weight_bytes, k.wstream_far_bytes));
      const double stream_ms =
          !gpu && weights_in_dram && u.mem_gbps > 0 && far_weight_bytes > 0 ? 1e-6 * far_weight_bytes / u.mem_gbps : 0;
      return std::max({std::max(0.0, ms) * scale, ceiling_ms, stream_ms});
    }
    if (profile.provenance == "measured" && !profile.kernels.empty() && !opts.allow_extrapolation)
      throw Error("profile: kernel class '" + (gpu ? model::gpu_profile_key(k.klass) : k.klass) + "'",
                  "has no fitted model (recalibrate with --classes " + k.klass + (gpu ? " --units gpu" : "") +
                      ", or pass --allow-extrapolation to use the roofline for it)");
    // Roofline: the slower of compute at peak and traffic at bandwidth, plus a small per-call cost.
    p.model = "roofline";
    const double flops = 2.0 * static_cast<double>(k.executed_macs);
    const double bytes = static_cast<double>(k.in_bytes + k.out_bytes + k.weight_bytes);
    const double peak = u.peak_gflops > 0 ? u.peak_gflops * 1e9 : 10e9;
    const double bw = u.mem_gbps > 0 ? u.mem_gbps * 1e9 : 5e9;
    return 1e3 * std::max(flops / peak, bytes / bw) + 0.005;
  }

  OpPrediction evaluate(const Node& n, const runtime::LayerSparsity* ls, const std::string& unit_id,
                        bool explicit_layer) {
    ++evaluations;
    // Name and type are filled where a prediction leaves the cache: an op name is often too long for
    // the small-string buffer, and a search loop's full re-prediction would allocate one per layer.
    OpPrediction p;
    p.unit = unit_id;
    p.macs = n.macs;
    if (unit_id != last_unit_id || !last_unit) {
      last_unit = profile.unit(unit_id);
      if (!last_unit) throw Error("op '" + n.name + "'", "assigned to unit '" + unit_id + "' which the profile lacks");
      last_unit_id = unit_id;
      last_unit_threads = threads_of(unit_id);
    }
    const model::UnitSpec* u = last_unit;
    const bool gpu = u->kind == "gpu";
    // A gpu unit's kernels are the device's: their instance carries no thread count of ours.
    const int threads = gpu ? 1 : last_unit_threads;
    static const runtime::LayerSparsity kDense{};
    const runtime::LayerSparsity& setting = ls ? *ls : kDense;
    model::OpInstance oi =
        n.conv ? model::conv_op_instance(n.shape, n.bias, n.act, setting, threads, explicit_layer, n.name, gpu)
               : model::op_instance(g, n.id, setting, threads, explicit_layer, gpu);
    if (gpu) oi.k.compute_units = u->compute_units;  // its work-groups run in waves over these
    // A profile calibrated before the op's class had a fit of its own prices it as it did then: by the
    // older class, on that class's features (model/conv_kernel_class.h).
    bool older = false;
    if (n.conv && !gpu) {
      const std::string was = model::older_conv_class(oi.k.klass);
      if (!was.empty() && !by_class.count(oi.k.klass) && by_class.count(was)) {
        const int64_t act_bytes = oi.k.act_bytes;
        oi.k = model::conv_instance(was, n.shape, threads, oi.k.executed_macs, oi.k.weight_bytes);
        oi.k.act_bytes = act_bytes;
        older = true;
      }
    }
    if (!gpu) model::place_operands(oi.k, weight_reuse_bytes, profile_llc);
    const model::KernelInstance& k = oi.k;
    p.format = oi.format;
    p.klass = k.klass;
    p.executed_macs = k.executed_macs;
    p.weight_bytes = k.weight_bytes;
    const model::TransferSpec& copy = u->host_transfer.gbps > 0 ? u->host_transfer : profile.transfer;
    // A calibrated gpu unit runs an op no OpenCL kernel takes on its driving core, with the CPU kernel at
    // one thread; the copies around it are the neighbouring device ops' (Node::gpu_copies).
    const bool host_op = gpu && n.gpu_host && !by_gpu_class.empty() && by_class.count(k.klass);
    if (host_op) {
      p.ms = latency(k, host_core(*u), p, false) + dispatch_ms(1);
      p.model = "host";
    } else if (gpu && !by_gpu_class.empty() && !by_gpu_class.count(k.klass) && by_class.count(k.klass)) {
      // A calibrated gpu without a model for the class (the calibration fitted none): priced as if it ran
      // on the unit's driving core at one thread, its input copied back from the device and its output up.
      p.transfer_ms = transfer_ms(copy, k.in_bytes) + transfer_ms(copy, k.out_bytes);
      p.ms = latency(k, host_core(*u), p, false) + dispatch_ms(1) + p.transfer_ms;
      p.model = "host fallback";
    } else {
      p.ms = latency(k, *u, p, gpu);
      // The executor's own cost per op (dispatch, timing, hand-off), calibrated in whole-model runs; on a
      // gpu unit the fitted "call" term is the launch and sync.
      if (!gpu) p.ms += dispatch_ms(threads);
    }
    if (older && p.model == "fitted") p.model = "older class";
    // On a gpu unit a device op copies in what the host made and out what the host reads (graph inputs and
    // outputs, host ops' tensors), one copy per tensor.
    if (gpu && n.gpu_copies > 0) {
      const double copies = transfer_ms(copy, n.gpu_copy_bytes) + (n.gpu_copies - 1) * transfer_ms(copy, 0);
      p.ms += copies, p.transfer_ms += copies;
    }
    // Memory access cost by level: inputs produced just before are served by the cache when they fit
    // in half the last level; weights come from DRAM unless the last level holds the model's weights and
    // activations (model::llc_holds, the rule place_operands applied above).
    p.bytes = k.in_bytes + k.out_bytes + k.weight_bytes + k.resweep_bytes;  // later sweeps: from the caches
    const int64_t act = k.in_bytes + k.out_bytes;
    const int64_t act_dram = act > llc / 2 ? act : 0;
    const int64_t w_dram = model::llc_holds(weight_reuse_bytes, profile_llc) ? 0 : k.weight_bytes;
    p.dram_bytes = act_dram + w_dram;
    p.cache_bytes = p.bytes - p.dram_bytes;
    const model::EnergySpec& e = profile.energy;
    p.energy_mj = 1e-9 * (e.pj_per_flop * 2.0 * static_cast<double>(k.executed_macs) +
                          e.pj_per_byte * static_cast<double>(p.dram_bytes) +
                          e.pj_per_byte_cache * static_cast<double>(p.cache_bytes)) +
                  e.static_w * p.ms;
    return p;
  }

  // Totals over the ops of a prediction whose schedule (ms, start/end) is set.
  void finish(Prediction& r) const {
    for (const OpPrediction& p : r.ops) {
      r.sum_ms += p.ms;
      r.bytes += p.bytes;
      r.dram_bytes += p.dram_bytes;
      r.cache_bytes += p.cache_bytes;
      r.weight_bytes += p.weight_bytes;
      r.dynamic_mj += p.energy_mj - profile.energy.static_w * p.ms;
      if (p.extrapolated) ++r.extrapolated_ops;
      if (p.model == "roofline") ++r.roofline_ops;
      if (p.model == "older class") ++r.older_class_ops;
    }
    // Static power burns for the whole makespan, not per op.
    r.static_mj = profile.energy.static_w * r.ms;
    r.energy_mj = r.dynamic_mj + r.static_mj;
    r.activation_peak_bytes = activation_peak;
    r.peak_memory_bytes = activation_peak + r.weight_bytes;
  }

  // Brings every node's memo up to `cfg`; true when every op stays on the default unit.
  bool resolve(const runtime::SparsitySpec& cfg) {
    // A search over continuous ratios would grow the cache without end; past the cap it starts again
    // (the memos point into it, so they go too).
    if (cache.size() > kCacheCap) cache.clear(), memo.clear();
    if (memo.size() != nodes.size()) memo.assign(nodes.size(), Memo{});
    layer_of.assign(nodes.size(), nullptr);
    // A search loop sends the same op names query after query: the names of the last config, in the
    // map's order, resolve by one string compare each instead of a hash lookup.
    size_t pos = 0;
    for (const auto& [name, ls] : cfg.layers) {
      size_t node;
      if (pos < last_names.size() && last_names[pos].first == name) {
        node = last_names[pos].second;
      } else {
        auto it = index.find(name);
        if (it == index.end())
          throw Error("config: op '" + name + "'", "the model has no such op after BN folding and fusion (see `hilsim inspect --passes`)");
        node = it->second;
        if (pos < last_names.size()) last_names.resize(pos);
        last_names.emplace_back(name, node);
      }
      ++pos;
      if (!ls.unit.empty() && !profile.unit(ls.unit))
        throw Error("config: op '" + name + "'", "unit '" + ls.unit + "' is not in the profile");
      layer_of[node] = &ls;
    }
    const runtime::LayerSparsity* all = cfg.all ? &*cfg.all : nullptr;
    bool one_unit = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const bool explicit_layer = layer_of[i] != nullptr;
      const runtime::LayerSparsity* ls = explicit_layer ? layer_of[i] : all;
      const std::string& unit = ls && !ls->unit.empty() ? ls->unit : default_unit;
      Memo& m = memo[i];
      const bool hit = m.valid && m.has_ls == (ls != nullptr) && m.explicit_layer == explicit_layer && m.unit == unit &&
                       (!ls || (m.ls.format == ls->format && m.ls.bf == ls->bf && m.ls.bc == ls->bc &&
                                m.ls.ratio == ls->ratio && m.ls.entries == ls->entries));
      if (!hit) {
        const Node& n = nodes[i];
        const CacheKey key = make_key(i, ls, unit, explicit_layer);
        auto it = cache.find(key);
        if (it == cache.end()) it = cache.emplace(key, evaluate(n, ls, unit, explicit_layer)).first;
        m.valid = true;
        m.has_ls = ls != nullptr;
        if (ls) m.ls = *ls;
        m.explicit_layer = explicit_layer;
        m.unit = unit;
        m.pred = &it->second;  // unordered_map nodes are stable
      }
      if (unit != default_unit) one_unit = false;
    }
    return one_unit;
  }

  Estimate estimate(const runtime::SparsitySpec& cfg) {
    Estimate e;
    if (!resolve(cfg)) {
      const Prediction p = predict(cfg, false);
      e.ms = p.ms, e.sum_ms = p.sum_ms, e.bytes = p.bytes, e.dram_bytes = p.dram_bytes, e.cache_bytes = p.cache_bytes;
      e.energy_mj = p.energy_mj, e.weight_bytes = p.weight_bytes, e.peak_memory_bytes = p.peak_memory_bytes;
      e.extrapolated_ops = p.extrapolated_ops;
      return e;
    }
    double dynamic = 0;
    for (const Memo& m : memo) {
      const OpPrediction& o = *m.pred;
      e.sum_ms += o.ms;
      e.bytes += o.bytes;
      e.dram_bytes += o.dram_bytes;
      e.cache_bytes += o.cache_bytes;
      e.weight_bytes += o.weight_bytes;
      dynamic += o.energy_mj - profile.energy.static_w * o.ms;
      e.extrapolated_ops += o.extrapolated;
    }
    e.ms = e.sum_ms;
    e.energy_mj = dynamic + profile.energy.static_w * e.ms;
    e.peak_memory_bytes = activation_peak + e.weight_bytes;
    return e;
  }

  // An op's prediction on another unit than its memo's, through the same cache.
  const OpPrediction& on_unit(size_t i, const std::string& unit) {
    const Memo& m = memo[i];
    const runtime::LayerSparsity* ls = m.has_ls ? &m.ls : nullptr;
    const CacheKey key = make_key(i, ls, unit, m.explicit_layer);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, evaluate(nodes[i], ls, unit, m.explicit_layer)).first;
    return it->second;
  }

  // Name, type and kernel are filled where a prediction leaves the cache (as evaluate() says): a
  // search loop's estimate() builds none of these strings. `ls` is the setting asked for; a conv that
  // could not take it runs dense (its prediction's format says so).
  void label(OpPrediction& o, size_t i, const runtime::LayerSparsity* ls) const {
    const Node& n = nodes[i];
    o.name = n.name;
    o.type = n.type;
    const model::UnitSpec* u = profile.unit(o.unit);
    if (!n.conv || (u && u->kind == "gpu")) {
      o.kernel = o.klass;
      return;
    }
    static const runtime::LayerSparsity kDense{};
    o.kernel = model::conv_kernel_name(n.shape, ls && o.format != "dense" ? *ls : kDense, isa);
  }

  // A device op's copies (Node::gpu_copy_peers) to or from a host op that the config put on another unit
  // than the device op's: the simulator prices that tensor as a crossing between the two units, so the
  // op's own figure must not hold it too. Ops the simulator places (free units) keep theirs.
  double crossed_copies_ms(size_t i, const std::vector<OpPrediction>& ops, bool free_placement) const {
    const model::UnitSpec* u = profile.unit(ops[i].unit);
    if (!u || u->kind != "gpu" || nodes[i].gpu_copy_peers.empty()) return 0.0;
    const model::TransferSpec& copy = u->host_transfer.gbps > 0 ? u->host_transfer : profile.transfer;
    double ms = 0;
    for (const auto& [peer, bytes] : nodes[i].gpu_copy_peers)
      if (peer != kNoPeer && (!free_placement || (memo[peer].has_ls && !memo[peer].ls.unit.empty())) &&
          ops[peer].unit != ops[i].unit)
        ms += transfer_ms(copy, bytes);
    return ms;
  }

  // `free_units`: ops the config leaves on the default unit may run on any of these instead; the
  // simulator places each where it finishes first.
  Prediction predict(const runtime::SparsitySpec& cfg, bool with_trace, const std::vector<std::string>* free_units = nullptr) {
    if (free_units) {
      if (free_units->empty()) throw Error("units", "no units to place the ops on");
      for (const auto& u : *free_units)
        if (!profile.unit(u)) throw Error("unit '" + u + "'", "is not in the profile");
      if (cache.size() + nodes.size() * free_units->size() > kCacheCap) cache.clear(), memo.clear();
    }
    const bool one_unit = resolve(cfg) && !free_units;
    Prediction r;
    r.energy_source = profile.energy.source;
    std::vector<SimTask> tasks;
    r.ops.reserve(nodes.size());
    for (size_t i = 0; i < memo.size(); ++i) {
      r.ops.push_back(*memo[i].pred);
      label(r.ops.back(), i, memo[i].has_ls ? &memo[i].ls : nullptr);
    }
    if (one_unit && !with_trace) {
      // One unit, no trace: the schedule is the sequence, no simulation needed.
      double t = 0;
      for (auto& o : r.ops) {
        o.start_ms = t;
        t += o.ms;
        o.end_ms = t;
      }
      r.ms = t;
      r.unit_busy_ms[default_unit] = t;
      finish(r);
      return r;
    }
    tasks.reserve(nodes.size());
    // crossed_copies_ms reads only the ops' units, so the figures can be corrected in place.
    for (size_t i = 0; i < nodes.size(); ++i) {
      const double crossed = crossed_copies_ms(i, r.ops, free_units != nullptr);
      r.ops[i].ms -= crossed, r.ops[i].transfer_ms = std::max(0.0, r.ops[i].transfer_ms - crossed);
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      SimTask t;
      t.name = n.name;
      const bool pinned = memo[i].has_ls && !memo[i].ls.unit.empty();
      if (free_units && !pinned) {
        for (const auto& u : *free_units) {
          // A gpu unit without a model for the op's class is no candidate for it (the op stays on the
          // others); only when no unit can take it is that an error.
          try {
            t.ms_on_unit[u] = on_unit(i, u).ms;
          } catch (const Error&) {
            if (profile.unit(u)->kind != "gpu") throw;
          }
        }
        if (t.ms_on_unit.empty()) t.ms_on_unit[free_units->front()] = on_unit(i, free_units->front()).ms;
      } else {
        t.unit = r.ops[i].unit;
        t.ms_on_unit[t.unit] = r.ops[i].ms;
      }
      t.deps = n.deps;
      t.dep_bytes = n.dep_bytes;
      tasks.push_back(std::move(t));
    }
    SimResult sim = simulate(tasks, profile.units, profile.transfer, with_trace, corun_);
    r.ms = sim.makespan_ms;
    r.unit_busy_ms = sim.busy_ms;
    r.transfers = sim.transfers;
    r.transfer_ms = sim.transfer_ms;
    r.trace = std::move(sim.trace);
    for (size_t i = 0; i < r.ops.size(); ++i) {
      if (tasks[i].unit.empty()) {
        r.ops[i] = on_unit(i, sim.unit[i]);
        label(r.ops[i], i, memo[i].has_ls ? &memo[i].ls : nullptr);
      }
      r.ops[i].start_ms = sim.start_ms[i];
      r.ops[i].end_ms = sim.end_ms[i];
    }
    finish(r);
    return r;
  }
};

Predictor::Predictor(const graph::Graph& model, model::Profile profile, PredictorOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->profile = std::move(profile);
  impl_->opts = opts;
  impl_->g = model;
  impl_->build();
}

Predictor::Predictor(const std::string& model, const std::string& profile_path, PredictorOptions opts)
    : Predictor(graph::load_model(model), model::load_profile(profile_path), opts) {}

Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;

Prediction Predictor::predict(const runtime::SparsitySpec& config, bool with_trace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->predict(config, with_trace);
}

Prediction Predictor::predict_placed(const runtime::SparsitySpec& config, const std::vector<std::string>& units,
                                     bool with_trace) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->predict(config, with_trace, &units);
}

Estimate Predictor::estimate(const runtime::SparsitySpec& config) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->estimate(config);
}

OpPrediction Predictor::predict_op(const std::string& op, const runtime::LayerSparsity& ls, bool strict) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->index.find(op);
  if (it == impl_->index.end()) throw Error("op '" + op + "'", "the model has no such op after the canonical passes");
  const std::string unit = ls.unit.empty() ? impl_->default_unit : ls.unit;
  if (impl_->cache.size() > Impl::kCacheCap) impl_->cache.clear(), impl_->memo.clear();
  const auto key = Impl::make_key(it->second, &ls, unit, strict);
  auto c = impl_->cache.find(key);
  if (c == impl_->cache.end()) c = impl_->cache.emplace(key, impl_->evaluate(impl_->nodes[it->second], &ls, unit, strict)).first;
  OpPrediction r = c->second;
  impl_->label(r, it->second, &ls);
  return r;
}

std::vector<std::pair<std::string, int64_t>> Predictor::prunable_ops() const {
  std::vector<std::pair<std::string, int64_t>> r;
  for (const auto& n : impl_->nodes)
    if (n.conv) r.emplace_back(n.name, n.macs);
  return r;
}

const graph::Graph& Predictor::canonical_graph() const { return impl_->g; }
int Predictor::default_threads() const { return impl_->threads_of(impl_->default_unit); }
const model::Profile& Predictor::profile() const { return impl_->profile; }
int64_t Predictor::evaluations() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->evaluations;
}

int max_threads(const model::Profile& p, const std::string& unit_id) {
  const model::UnitSpec* u = p.unit(unit_id);
  const int cores = u && !u->cpus.empty() ? static_cast<int>(u->cpus.size()) : std::max(1, p.device.cores);
  return 4 * cores;
}

}  // namespace hilsim::costmodel
