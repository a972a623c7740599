#include "hilsim/calibration/calibrator.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <unistd.h>

#include "hilsim/calibration/crossing.h"
#include "hilsim/calibration/device_facts.h"
#include "hilsim/calibration/energy_calibration.h"
#include "hilsim/calibration/energy_counter.h"
#include "hilsim/calibration/fit.h"
#include "hilsim/calibration/grid.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/model/instances.h"
#include "hilsim/model/kernel_features.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/graph/builder.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

// The open OpenCL device's compute units (an executor with a gpu unit opened it from its pinned thread).
int64_t device_compute_units() { return std::max(1, kernels::opencl::ClContext::get()->device().compute_units); }

}  // namespace

graph::Graph layer_graph(const KernelPoint& p, uint64_t seed, int copies) {
  graph::GraphBuilder b("calibration", seed);
  // Inside a model a layer reads tensors its producer has just written, so they sit in the cache the
  // producer left them in; a graph input read once per round of copies comes from further out. Each
  // input therefore goes through a Relu first (timed apart and left out of the sample), and the
  // executor runs each copy's producer right before its consumer (smallest op id first).
  auto produced = [&b](const std::string& x) { return b.relu(x); };
  for (int i = 0; i < copies; ++i) {
    const std::string n = std::to_string(i);
    if (p.op == "gemm") {
      const std::string x = produced(b.input("x" + n, {p.h, p.c}));  // h rows: 1 for a classifier, tokens else
      b.output(b.gemm(x, p.f));
      continue;
    }
    // [1, h*w, c] pieces, joined or split per pixel
    const bool rows_of_pixels = (p.op == "concat" && p.concat_axis != 1) || p.op == "split";
    const std::string x =
        produced(b.input("x" + n, rows_of_pixels ? graph::Shape{1, p.h * p.w, p.c} : graph::Shape{1, p.c, p.h, p.w}));
    const bool inner_concat = p.op == "concat" && rows_of_pixels;
    std::string y;
    if (p.op == "conv") {
      // The point's own padding (none for non-overlapping windows), as the phone's prepared kernel has it.
      y = b.conv(x, p.f, p.k, p.stride, p.groups, true, p.conv_shape().pad_top, 1, "L" + n);
      // The epilogue is part of the kernel instance: none, ReLU or SiLU (the exp-based one costs).
      if (p.act == 1) y = b.relu(y);
      if (p.act == 2) y = b.silu(y);
    } else if (p.op == "maxpool") {
      y = b.maxpool(x, p.k, p.stride, p.k == 2 ? 0 : p.k / 2);
    } else if (p.op == "add") {
      y = b.add(x, produced(b.input("y" + n, {1, p.c, p.h, p.w})));
    } else if (p.op == "scale") {
      y = b.mul(x, produced(b.input("s" + n, {1, p.c, 1, 1})));
    } else if (p.op == "affine") {
      y = b.batchnorm(x, "L" + n);  // standalone: no conv before it to fold into
    } else if (p.op == "gelu") {
      y = b.op("Gelu", {x}, {{"approximate", std::string("none")}})[0];  // what the GELU pass writes
    } else if (p.op == "concat") {
      std::vector<std::string> xs = {x};
      for (int j = 1; j < p.inputs; ++j)
        xs.push_back(produced(b.input("y" + n + "_" + std::to_string(j),
                                      inner_concat ? graph::Shape{1, p.h * p.w, p.f} : graph::Shape{1, p.f, p.h, p.w})));
      y = b.concat(xs, inner_concat ? 2 : 1);
    } else if (p.op == "resize") {
      y = b.resize_nearest(x, 2.0f);
    } else if (p.op == "copy") {
      y = b.flatten(x);
    } else if (p.op == "transpose") {
      y = b.op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}})[0];
    } else if (p.op == "split") {
      const auto parts = b.op("Split", {x}, {{"axis", int64_t{2}}, {"split", std::vector<int64_t>{p.f, p.c - p.f}}}, 2);
      b.output(parts[0]);
      y = parts[1];
    } else if (p.op == "global_avgpool") {
      y = b.global_avgpool(x);
    } else {
      throw Error("calibration grid", "unknown op '" + p.op + "'");
    }
    b.output(y);
  }
  graph::Graph g = b.finish();
  // The kernel-direct backend's weights (runner.h), so both backends prune and time the same ones.
  if (p.op == "conv")
    for (int i = 0; i < copies; ++i) {
      const graph::Op& conv = g.op(*g.find_op("L" + std::to_string(i)));
      const uint64_t s = seed + static_cast<uint64_t>(i);
      graph::Tensor* w = g.mutable_constant(conv.inputs.at(1));
      w->f32 = random_floats(w->f32.size(), s);
      if (conv.inputs.size() > 2 && !conv.inputs[2].empty())
        if (graph::Tensor* bias = g.mutable_constant(conv.inputs[2])) bias->f32 = random_floats(bias->f32.size(), s + 1);
    }
  return g;
}

// The conv layers of the built-in models as grid points: real layers are where accuracy matters, and
// a space-filling design alone samples their corners (huge C x F at small H x W) thinly. Each shape is
// also given, in turn, a sparse format for the sparse classes.
std::vector<KernelPoint> zoo_points(const std::vector<std::string>& classes, int threads) {
  std::vector<KernelPoint> pts;
  std::set<std::string> seen;
  uint64_t i = 0;
  for (const auto& name : graph::zoo_names()) {
    if (name == "resnet50_like") continue;  // its layers are resnet18's and 1x1 bottlenecks: budget goes elsewhere
    graph::Graph g = graph::make_zoo_model(name);
    graph::passes::canonicalize(g);
    for (graph::OpId id : g.topological_order()) {
      const graph::Op& op = g.op(id);
      if (op.type != "Conv") continue;
      const kernels::ConvShape cs = runtime::conv_shape_of(g, op);
      if (cs.kh != cs.kw || cs.pad_top != cs.kh / 2 || cs.h != cs.w) continue;
      KernelPoint p;
      p.op = "conv";
      p.threads = threads;
      p.c = cs.c, p.f = cs.f, p.h = cs.h, p.w = cs.w, p.k = cs.kh, p.stride = cs.stride_h, p.groups = cs.groups;
      p.act = op.fused.kind == graph::Activation::kSiLU ? 2 : op.fused.kind == graph::Activation::kRelu ? 1 : 0;
      p.klass = model::conv_class(cs, "dense");
      std::vector<KernelPoint> variants{p};
      if (cs.groups == 1) {
        const double u = std::fmod(static_cast<double>(++i) * 0.618034, 1.0);
        for (int fb : {1, 2, 4, 8, 16}) {
          KernelPoint q = p;
          q.klass = "sparse_fb" + std::to_string(fb);
          q.ratio = std::min(0.95, 0.3 + 0.65 * u);
          q.format = fb == 1 ? (cs.kh == 3 ? "pattern" : cs.kh == 1 ? "csr" : "block") : "block";
          q.entries = u < 0.5 ? 2 : 3;
          q.bf = fb;
          q.bc = q.format == "block" && fb > 1 ? 4 : 1;
          variants.push_back(q);
        }
      }
      for (const KernelPoint& v : variants)
        if (std::find(classes.begin(), classes.end(), v.klass) != classes.end() && seen.insert(v.key()).second)
          pts.push_back(v);
    }
  }
  return pts;
}

Sample measure_point(const KernelPoint& p, const MeasureOptions& mo) {
  const CalibrationPolicy& pol = mo.policy;
  // The device keeps its weights in its own buffers, and PoCL runs a large point 20x slower than the
  // CPU kernels: one copy, so a 90 s budget covers every class (copies made a point take seconds).
  const int64_t llc = host_llc_bytes();
  const int copies = mo.gpu ? 1 : round_copies(p, pol, llc);
  const graph::Graph g = layer_graph(p, 17, copies);
  runtime::ExecOptions eo;
  eo.threads = p.threads;
  if (mo.gpu) eo.units = {*mo.gpu};  // every op on the device: the target's input is already there
  runtime::LayerSparsity ls;
  if (p.format != "dense") {
    ls = runtime::parse_layer_spec(p.format == "pattern" ? "pattern:" + std::to_string(p.entries)
                                   : p.format == "csr"   ? "csr@" + std::to_string(p.ratio)
                                                         : p.format + ":" + std::to_string(p.bf) + "x" +
                                                               std::to_string(p.bc) + "@" + std::to_string(p.ratio));
    for (int i = 0; i < copies; ++i) eo.sparsity.layers["L" + std::to_string(i)] = ls;
  }
  runtime::Executor ex(g, eo);
  const runtime::TensorMap in = runtime::random_inputs(ex.compiled_graph(), 3);
  // The ops being calibrated: every copy's kernel, not the Relus that produce their inputs.
  const auto& ops = ex.ops();
  const graph::Graph& cg = ex.compiled_graph();
  std::vector<size_t> targets;
  for (size_t j = 0; j < ops.size(); ++j) {
    const auto id = cg.find_op(ops[j].name);
    if (id && cg.op(*id).type != "Relu") targets.push_back(j);
  }
  if (targets.empty()) throw Error("calibration point '" + p.key() + "'", "its graph compiled to producers only");
  // A point the OpenCL lowering leaves on the host (kernel host_*) would time the CPU under a gpu key.
  if (mo.gpu && ops[targets[0]].kernel.rfind("host_", 0) == 0)
    throw Error("calibration point '" + p.key() + "'", "not supported on the gpu unit yet (runs on the host: " +
                                                        ops[targets[0]].kernel + ")");
  // gpu: a target's own copies (its input from the host Relu, its output to the graph) are left out of
  // its time: inside a model on the device they are not paid, and a crossing's copy is priced apart.
  auto round = [&](std::vector<double>& t) {
    runtime::RunTiming rt;
    ex.run(in, &rt);
    for (size_t j : targets)
      if (j < rt.op_ms.size())
        t.push_back(mo.gpu && j < rt.op_transfer_ms.size() ? std::max(0.0, rt.op_ms[j] - rt.op_transfer_ms[j]) : rt.op_ms[j]);
  };
  auto run_series = [&](std::vector<double>& t) { timed_rounds(round, pol, t); };
  const std::vector<double> t = steadier_series(run_series, pol.stable_spread);
  const auto id = cg.find_op(ops[targets[0]].name);
  model::KernelInstance k = model::op_instance(cg, *id, ls, p.threads, true, mo.gpu.has_value()).k;
  if (!mo.gpu) place_round_operands(k, p, pol, llc);
  Sample s = timed_sample(k, p.key(), mo.gpu ? 1 : p.threads, t);
  if (mo.gpu) {
    k.compute_units = device_compute_units();
    s.features = model::features_of(k, true);
    s.features["threads"] = 1;
    s.unit = "gpu";
    s.instance = "gpu/" + s.instance;
  }
  return s;
}

std::vector<ContextRun> gpu_context_runs() {
  // Small inputs (PoCL runs a model ~20x slower than the CPU engine), resolutions and widths apart from
  // the ones predictions are checked at; dense and block 8x4 at the ratios a planner picks.
  // Each new shape is tuned once (seconds under PoCL, then cached): few models, so the grid still runs.
  return {{"zoo:resnet18_like@64x0.75", "", 1},
          {"zoo:mobilenetv2_like@80x1", "", 1},
          {"zoo:yolov5s_like@96x0.5", "", 1},
          {"zoo:resnet18_like@64x0.75", "block:8x4@0.6", 1}};
}

std::vector<Sample> measure_context(const ContextRun& r, const std::vector<std::string>& classes, int repeats,
                                    const std::optional<runtime::UnitDef>& gpu) {
  graph::Graph g = graph::load_model(r.model);
  runtime::ExecOptions eo;
  eo.threads = r.threads;
  if (gpu) eo.units = {*gpu};
  if (!r.sparsity.empty()) eo.sparsity = runtime::parse_sparsity_spec(r.sparsity);
  runtime::Executor ex(g, eo);
  const runtime::TensorMap in = runtime::random_inputs(ex.compiled_graph(), 3);
  const auto& ops = ex.ops();
  std::vector<std::vector<double>> t(ops.size()), copy_ms(ops.size());
  std::vector<double> gaps;  // per run: (run time - sum of op times) / ops, the executor's own cost
  for (int i = 0; i < 2; ++i) ex.run(in);
  for (int i = 0; i < repeats; ++i) {
    runtime::RunTiming rt;
    ex.run(in, &rt);
    double sum = 0;
    // gpu: an op's copies are crossings, priced apart (as in measure_point).
    for (size_t j = 0; j < ops.size() && j < rt.op_ms.size(); ++j) {
      const double copies = gpu && j < rt.op_transfer_ms.size() ? rt.op_transfer_ms[j] : 0.0;
      t[j].push_back(std::max(0.0, rt.op_ms[j] - copies)), sum += rt.op_ms[j];
      if (gpu && ops[j].transfer_copies > 0) copy_ms[j].push_back(copies);
    }
    if (!ops.empty()) gaps.push_back(std::max(0.0, rt.total_ms - sum) / static_cast<double>(ops.size()));
  }
  const graph::Graph& cg = ex.compiled_graph();
  const int64_t reuse = model::graph_reuse_bytes(cg), llc = host_llc_bytes();  // as the cost model reckons it
  std::vector<Sample> out;
  for (size_t j = 0; j < ops.size(); ++j) {
    const auto id = cg.find_op(ops[j].name);
    if (!id || t[j].empty()) continue;
    // An op the OpenCL lowering left on the host timed the CPU, not the device.
    if (gpu && ops[j].kernel.rfind("host_", 0) == 0) continue;
    const runtime::LayerSparsity ls = eo.sparsity.for_op(ops[j].name).value_or(runtime::LayerSparsity{});
    model::OpInstance oi = model::op_instance(cg, *id, ls, r.threads, false, gpu.has_value());
    if (!gpu) model::place_operands(oi.k, reuse, llc);
    if (!classes.empty() && std::find(classes.begin(), classes.end(), oi.k.klass) == classes.end()) continue;
    Sample s;
    s.klass = oi.k.klass;
    s.instance = r.key() + "/" + ops[j].name;
    if (gpu) {
      oi.k.compute_units = device_compute_units();
      s.unit = "gpu";
      s.instance = "ctx/gpu/" + s.instance.substr(4);
    }
    s.features = model::features_of(oi.k, gpu.has_value());
    s.features["threads"] = r.threads;
    s.ms_median = quantile(t[j], 0.5);
    s.ms_p10 = quantile(t[j], 0.1);
    s.ms_p90 = quantile(t[j], 0.9);
    s.repeats = static_cast<int>(t[j].size());
    if (s.ms_median > 0) out.push_back(std::move(s));
  }
  // gpu: the copies as a run makes them, one "transfer" sample per op that copies (in_context marks
  // them apart from the blocking copies that fix the bandwidth; see fit_crossing).
  for (size_t j = 0; gpu && j < ops.size(); ++j) {
    if (copy_ms[j].empty()) continue;
    Sample c = series_sample("transfer", "ctx/gpu/" + r.key().substr(4) + "/" + ops[j].name + "/copies",
                             {{"bytes", static_cast<double>(ops[j].transfer_bytes)},
                              {"call", static_cast<double>(ops[j].transfer_copies)},
                              {"in_context", 1.0}},
                             1, copy_ms[j]);
    c.unit = "gpu";
    if (c.ms_median > 0) out.push_back(std::move(c));
  }
  if (!gpu && (classes.empty() || std::find(classes.begin(), classes.end(), "dispatch") != classes.end())) {
    Sample d;
    d.klass = "dispatch";
    d.instance = r.key() + "/dispatch";
    d.features = {{"call", 1.0}, {"threads", static_cast<double>(r.threads)}};
    d.ms_median = quantile(gaps, 0.5);
    d.ms_p10 = quantile(gaps, 0.1);
    d.ms_p90 = quantile(gaps, 0.9);
    d.repeats = static_cast<int>(gaps.size());
    if (d.ms_median > 0) out.push_back(std::move(d));
  }
  return out;
}

model::Profile fit_profile(const SampleSet& measured, const FitOptions& fo) {
  model::Profile p;
  p.device = measured.device;
  // Kernel classes get the host's speed factored out at the exponent that fits them best; the other
  // fits (roofline, transfer, energy) see the full correction, as before.
  const std::vector<double> factors =
      fo.correct_drift ? host_factors(measured, nullptr, fo.policy) : std::vector<double>(measured.samples.size(), 1.0);
  const bool moving = std::any_of(factors.begin(), factors.end(), [](double f) { return f != 1.0; });
  const SampleSet set = scale_by_host(measured, factors, 1.0);
  if (auto r = summarize_speed_reference(set.samples, fo.policy); !r.workload.empty()) p.device.speed_reference = r;
  p.provenance = "measured";
  p.provenance_note = set.note;
  // Group samples (their indices) by (class, threads).
  std::map<std::pair<std::string, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < set.samples.size(); ++i) {
    const Sample& s = set.samples[i];
    // The gpu unit's samples group at "0 threads": apart from every CPU cell, keyed CLASS/gpu.
    groups[{s.klass, s.unit == "gpu" ? 0 : sample_threads(s)}].push_back(i);
  }
  auto samples_of = [&](const std::vector<size_t>& idx, double exponent) {
    std::vector<Sample> out;
    for (size_t i : idx) out.push_back(scale_by_host(measured.samples[i], factors[i], exponent));
    return out;
  };
  auto is_kernel = [](const std::string& k) {
    return k != "transfer" && k != "sync" && k != "corun" && k != "stream" && k != "peak" && k != kEnergyClass && k != kSpeedReferenceClass;
  };
  // How strongly kernels follow the reference workload's slowdown: one exponent for the whole set, the
  // slope of log(measured / predicted) on log(host factor) over every kernel sample (refitted at the
  // new exponent until it settles). Per class it was too noisy to choose (best exponents 0 to 1 at
  // random between two calibrations). It is kept only where it pays: the rms log error over all kernel
  // samples must fall by the policy's drift_min_gain. On this VM, whose speed flips within a second, readings 2 s
  // apart explained almost none of the scatter (rms log error 0.26-0.33 at every exponent) and every
  // exponent above 0 made two calibrations disagree more; a phone throttling over minutes is the case
  // the correction is for.
  auto fit_all = [&](double e) {
    std::map<std::pair<std::string, int>, model::KernelModel> out;
    for (const auto& [key, idx] : groups) {
      // A thin class borrows its sibling's samples (same unit and thread count), its own listed first;
      // with a sibling one sample of its own is enough (a loaded host's 120 s measured two grid points of
      // depthwise 7x7 a thread count, and ConvNeXt was then priced by the older class).
      const auto sib = groups.find({sibling_class(key.first), key.second});
      const bool has_sibling = sib != groups.end() && sib->first != key && sib->second.size() >= 3;
      if (!is_kernel(key.first) || idx.empty() || (idx.size() < 3 && !has_sibling)) continue;
      std::vector<Sample> own = samples_of(idx, e);
      if (static_cast<int>(idx.size()) < fo.policy.thin_class_samples && has_sibling) {
        std::vector<Sample> more = samples_of(sib->second, e);
        own.insert(own.end(), more.begin(), more.end());
      }
      out[key] = fit_kernel_class(own, model::unit_feature_names(key.first, key.second == 0), fo.policy);
    }
    return out;
  };
  auto rms_log_error = [&](const std::map<std::pair<std::string, int>, model::KernelModel>& ms, double e) {
    double sq = 0, n = 0;
    for (const auto& [key, m] : ms)
      for (const Sample& x : samples_of(groups.at(key), e)) {
        const double pred = model::evaluate_model(m, x.features);
        if (pred > 0 && fit_ms(x) > 0) sq += std::pow(std::log(fit_ms(x) / pred), 2), n += 1;
      }
    return n > 0 ? std::sqrt(sq / n) : 0.0;
  };
  double exponent = 0;
  std::map<std::pair<std::string, int>, model::KernelModel> models = fit_all(0);
  if (moving) {
    const auto uncorrected = models;
    for (int it = 0; it < fo.policy.drift_max_iterations; ++it) {
      double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
      for (const auto& [key, m] : models)
        for (size_t i : groups.at(key)) {
          if (factors[i] == 1.0) continue;
          const double pred = model::evaluate_model(m, measured.samples[i].features);
          const double t = fit_ms(measured.samples[i]) / std::pow(factors[i], exponent);
          if (!(pred > 0) || !(t > 0)) continue;
          const double x = std::log(factors[i]), y = std::log(t / pred);
          sx += x, sy += y, sxx += x * x, sxy += x * y, n += 1;
        }
      const double var = n * sxx - sx * sx;
      if (n < 10 || !(var > 0)) break;
      const double next = std::clamp(exponent + (n * sxy - sx * sy) / var, 0.0, 1.0);
      const bool settled = std::fabs(next - exponent) < fo.policy.drift_settle;
      exponent = next;
      models = fit_all(exponent);
      if (settled) break;
    }
    if (exponent > 0 && rms_log_error(models, exponent) > (1 - fo.policy.drift_min_gain) * rms_log_error(uncorrected, 0)) {
      exponent = 0;
      models = uncorrected;
    }
  }
  // The stream measurement's time per byte at each thread count (its fastest run): the far rate of
  // memory-bound classes that sampled no tensor beyond the caches.
  std::map<int, double> stream_ms_per_byte;
  for (const Sample& s : set.samples)
    if (s.klass == "stream" && fit_ms(s) > 0 && s.features.count("bytes") && s.features.at("bytes") > 0) {
      const double r = fit_ms(s) / s.features.at("bytes");
      auto [it, fresh] = stream_ms_per_byte.emplace(sample_threads(s), r);
      if (!fresh) it->second = std::min(it->second, r);
    }
  // The activation epilogue's rate per thread count: the median over the compute classes that fitted it.
  std::map<int, std::vector<double>> act_rates;
  for (const auto& [key, m] : models) {
    const auto at = std::find(m.features.begin(), m.features.end(), "act_bytes");
    if (key.second > 0 && model::is_compute_class(key.first) && at != m.features.end() &&
        carriers_of(samples_of(groups.at(key), 0), "act_bytes") >= fo.policy.min_feature_samples)
      if (const double r = m.params[static_cast<size_t>(at - m.features.begin())]; r > 0) act_rates[key.second].push_back(r);
  }
  double peak_gflops = 0, mem_gbps = 0;
  for (const auto& [key, idx] : groups) {
    if (!models.count(key)) continue;
    model::KernelModel m = models.at(key);
    // Element-wise GELUs and sigmoids too: a 120 s calibration times only a few of them, and their erf/exp
    // approximation costs per element about what the conv epilogue's SiLU does.
    if (key.second > 0 && (model::is_compute_class(key.first) || key.first == "elementwise") && act_rates.count(key.second))
      borrow_act_rate(m, samples_of(idx, 0), quantile(act_rates.at(key.second), 0.5), fo.policy.min_feature_samples,
                      model::is_compute_class(key.first) ? fo.policy.act_rate_spread : 0.0);
    // Pools price their reads per window element, not per byte: a stream rate on top would count them twice.
    if (key.second > 0 && !model::is_compute_class(key.first) && key.first != "pool" && stream_ms_per_byte.count(key.second))
      anchor_far_rate(m, samples_of(idx, 0), stream_ms_per_byte.at(key.second), fo.policy.min_feature_samples);
    m.drift_exponent = moving ? exponent : -1;
    if (key.second == 0) m.unit = "gpu";
    p.kernels[key.second == 0 ? model::gpu_profile_key(key.first) : model::profile_key(key.first, key.second)] = m;
    for (size_t i : idx) {
      const Sample& s = set.samples[i];
      if (key.first.rfind("dense_conv", 0) == 0 && key.second == 1 && s.ms_median > 0)
        peak_gflops = std::max(peak_gflops, 2.0 * s.features.at("macs") / (s.ms_median * 1e6));
    }
  }
  for (const Sample& s : set.samples) {
    if (s.klass == "stream" && s.ms_median > 0) mem_gbps = std::max(mem_gbps, s.features.at("bytes") / (s.ms_median * 1e6));
    // The micro-kernel's own ceiling on one core, where the calibration measured it.
    if (s.klass == "peak" && sample_threads(s) == 1 && s.ms_median > 0 && s.features.count("flops"))
      peak_gflops = std::max(peak_gflops, s.features.at("flops") / (s.ms_median * 1e6));
  }
  const int cores = std::max(1, p.device.cores);
  model::UnitSpec all;
  all.id = "cpu";
  all.kind = "cpu";
  all.threads = cores;
  all.peak_gflops = peak_gflops * cores;  // best single-sample figure scaled to the unit (a ceiling)
  all.mem_gbps = mem_gbps;
  for (int c = 0; c < cores; ++c) all.cpus.push_back(c);
  p.units.push_back(all);
  for (int c = 0; c < cores; ++c) {
    model::UnitSpec u;
    u.id = "cpu" + std::to_string(c);
    u.kind = "cpu";
    u.threads = 1;
    u.peak_gflops = peak_gflops;
    u.mem_gbps = mem_gbps;
    u.cpus = {c};
    p.units.push_back(u);
  }
  // The gpu unit, where it was calibrated: its roofline from its own samples, its copies to and from
  // host memory fitted on the executor's timed copies (bytes + a per-copy latency).
  double gpu_gflops = 0, gpu_gbps = 0;
  bool gpu_fitted = false;
  for (const auto& [key, m] : p.kernels) gpu_fitted = gpu_fitted || m.unit == "gpu";
  for (const Sample& s : set.samples) {
    if (s.unit != "gpu" || !(s.ms_median > 0)) continue;
    if (model::is_compute_class(s.klass) && s.features.count("macs")) gpu_gflops = std::max(gpu_gflops, 2.0 * s.features.at("macs") / (s.ms_median * 1e6));
    if (s.klass == "elementwise" && s.features.count("bytes"))
      gpu_gbps = std::max(gpu_gbps, s.features.at("bytes") / (s.ms_median * 1e6));
  }
  if (gpu_fitted) {
    model::UnitSpec g;
    g.id = "gpu";
    g.kind = "gpu";
    g.threads = 1;
    // A ceiling: without compute samples the whole CPU's bounds a device running on its cores.
    g.peak_gflops = gpu_gflops > 0 ? gpu_gflops : std::max(all.peak_gflops, 1.0);
    g.mem_gbps = gpu_gbps > 0 ? gpu_gbps : std::max(mem_gbps, 1.0);
    if (set.gpu_core >= 0 && set.gpu_core < cores) g.cpus = {set.gpu_core};
    g.compute_units = std::max(1, set.gpu_compute_units);
    g.device = "OpenCL device '" + (set.gpu_device.empty() ? std::string("unrecorded") : set.gpu_device) + "'" +
               (set.gpu_core >= 0 ? ", PoCL on CPU core " + std::to_string(set.gpu_core) + " when the device is the CPU"
                                  : "");
    auto group = [&](const char* klass) {
      auto it = groups.find({klass, 0});
      return it == groups.end() ? std::vector<Sample>{} : samples_of(it->second, 1.0);
    };
    if (auto t = fit_crossing(group("transfer"), group("sync"), "blocking copies to and from the device, host clock"))
      g.host_transfer = *t;
    if (auto c = fit_corun(group("corun"))) g.corun_share = *c;
    p.units.push_back(g);
  }
  auto tr = groups.find({"transfer", 1});
  if (auto t = fit_crossing(tr == groups.end() ? std::vector<Sample>{} : samples_of(tr->second, 1.0), {},
                            "hand-offs of a tensor between two pinned cores")) {
    p.transfer = *t;
  } else {
    p.transfer.latency_us = 10;
    p.transfer.gbps = 10;
    p.transfer.source = "assumed";
    p.transfer.basis = "no core-to-core hand-offs were measured (one core, or the calibration ended first); "
                       "10 us + 10 GB/s is a placeholder of the order of a cache-line hand-off, not a measurement";
  }
  EnergyFit ef;
  std::string why_not;
  if (fit_energy(set.samples, &ef, &why_not)) {
    p.energy = ef.spec;
    return p;
  }
  p.energy.source = "estimate";
  p.energy.pj_per_flop = 20.0;
  p.energy.pj_per_byte = 100.0;
  p.energy.pj_per_byte_cache = 10.0;
  p.energy.static_w = 5.0;
  p.energy.basis = why_not +
                   "; order-of-magnitude figures for a 14 nm-class server core: fp32 SIMD FMA incl. operand "
                   "delivery ~20 pJ/FLOP, DDR4 access ~100 pJ/byte, "
                   "on-chip cache ~10 pJ/byte, ~5 W static for the cores used; not measured";
  return p;
}

namespace {

// The executor measurement backend: each grid point as a one-layer model on the executor (what
// `hilsim run` times per op), real layers from the zoo's graphs.
// The gpu unit through the executor: each point's ops all on the device, the copies of its inputs and
// outputs kept apart as transfer samples. A point the device cannot run is skipped, not timed on the host.
class GpuBackend : public MeasureBackend {
 public:
  GpuBackend(const CalibrationPolicy& policy, const runtime::UnitDef& unit) {
    mo_.policy = policy;
    mo_.gpu = unit;
    // Fewer repeats: a device op is timed from profiling events, steadier than the host's clock.
    mo_.policy.sample_min_rounds = 3;
    mo_.policy.sample_max_rounds = 30;
    mo_.policy.sample_min_time_s = 0.01;
  }
  Sample measure(const KernelPoint& p) override {
    try {
      return measure_point(p, mo_);
    } catch (const Error& e) {
      skipped.push_back(e.what());
      Sample s;  // the driver records it done; fit_profile ignores a sample without a time
      s.klass = p.klass;
      s.unit = "gpu";
      s.instance = "gpu/" + p.key();
      s.features["threads"] = 1;
      return s;
    }
  }
  std::vector<KernelPoint> real_layers(const std::vector<std::string>& classes, int threads) override {
    return zoo_points(classes, threads);
  }
  std::vector<std::string> skipped;

 private:
  MeasureOptions mo_;
};

class ExecutorBackend : public MeasureBackend {
 public:
  explicit ExecutorBackend(const CalibrationPolicy& policy) { mo_.policy = policy; }
  Sample measure(const KernelPoint& p) override { return measure_point(p, mo_); }
  // The built-in table the phone's backend takes too (one design for both); the zoo's own layers are
  // timed in context, at other sizes, so the models bench-predictor checks stay unseen.
  std::vector<KernelPoint> real_layers(const std::vector<std::string>& classes, int threads) override {
    return reference_layers(classes, threads, mo_.policy);
  }
  bool runs_in_context(const ContextRun&) override { return true; }
  std::vector<Sample> measure_context(const ContextRun& r, const std::vector<std::string>& classes,
                                     int repeats) override {
    return calibration::measure_context(r, classes, repeats);
  }

 private:
  MeasureOptions mo_;
};

}  // namespace

CalibrateResult calibrate(const CalibrateOptions& o) {
  if (o.out.empty()) throw Error("calibrate", "--out PROFILE is required");
  DriverOptions d;
  d.samples_path = o.out + ".samples.json";
  d.budget_s = o.budget_s;
  d.resume = o.resume;
  d.classes = o.classes;
  d.max_threads = o.max_threads;
  if (const char* note = std::getenv("HILSIM_CALIBRATION_NOTE")) d.note = note;
  d.policy = o.policy;
  d.progress = o.progress;
  d.stop = o.stop;
  d.tiny = o.tiny;
  const CalibrationPolicy& pol = o.policy;
  ExecutorBackend backend(pol);
  CalibrationDriver driver(backend, d);
  CalibrationDriver::Result dr = driver.run();
  CalibrateResult r;
  r.samples = std::move(dr.samples);
  r.interrupted = dr.interrupted;
  r.waited_s = dr.waited_s;
  r.rechecked = dr.rechecked;
  r.wall_s = dr.wall_s;
  if (o.gpu && !r.interrupted) {
    // The same driver and grid over the device, one "thread" (the device's own parallelism is its
    // business), its own samples file so that either part resumes alone.
    GpuBackend gb(pol, *o.gpu);
    DriverOptions gd = d;
    gd.samples_path = o.out + ".gpu.samples.json";
    gd.budget_s = o.gpu_budget_s;
    gd.max_threads = 1;
    gd.policy.affine_share = 1.0;  // no OpenCL kernel for a standalone batch norm yet: it would time the host
    gd.policy.unary_math_share = 1.0;  // nor for a GELU
    gd.policy.channel_scale_share = 0.5;  // but per-channel scales run on the device (binary_channel)
    gd.policy.strided_copy_share = 0.0;  // nor for a transpose or split: plain copies only
    // One visit each: a device op is timed from profiling events, which a host's speed phase moves less.
    gd.policy.context_visits = gd.policy.grid_visits = 1;
    gd.classes.clear();
    for (const auto& c : gpu_calibration_classes())
      if (o.classes.empty() || std::find(o.classes.begin(), o.classes.end(), c) != o.classes.end()) gd.classes.push_back(c);
    if (gd.classes.empty()) throw Error("--classes", "names none of the gpu unit's classes");
    gd.gpu_unit = true;
    CalibrationDriver gdriver(gb, gd);
    // Layers in context first, as for the CPU: one-op points timed the device 25-60% faster than the
    // same layers inside a model (resnet18_like@96: every conv class under-predicted). They also give
    // the device's other classes (stems, 5x5, copies) samples of their own.
    for (const ContextRun& cr : o.tiny ? std::vector<ContextRun>{} : gpu_context_runs()) {
      if (gdriver.stopped() || gdriver.elapsed_s() > pol.gpu_context_share * o.gpu_budget_s) break;
      const std::string key = "gpu/" + cr.key();
      if (gdriver.done(key)) continue;
      const double t_start = unix_now();
      std::vector<Sample> got = measure_context(cr, o.classes.empty() ? std::vector<std::string>{} : gd.classes, 5, *o.gpu);
      for (Sample& s : got) {
        s.features["t_unix"] = 0.5 * (t_start + unix_now());
        gdriver.add(std::move(s));
      }
      gdriver.mark_done(key);
      gdriver.progress(cr.model + " on the gpu unit in context");
    }
    gdriver.measure_grid();
    gdriver.measure_adaptive();
    // Crossings: the copies' fixed part and bandwidth, and the hand-off between a CPU unit (on another
    // core than the device's, where there is one) and the device. A second or so of the budget.
    if (!gdriver.stopped()) {
      for (Sample& c : measure_gpu_copies(*o.gpu)) gdriver.add(std::move(c));
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      const int gpu_core = o.gpu->cpus.empty() ? -1 : o.gpu->cpus[0];
      gdriver.add(measure_gpu_sync(*o.gpu, gpu_core == 0 && cores > 1 ? 1 : 0));
      // Beside a busy CPU unit: only where the CPU has a core the device is not pinned to.
      if (cores > 1 && gpu_core >= 0)
        for (Sample& c : measure_gpu_corun(*o.gpu, gpu_core == 0 ? 1 : 0)) gdriver.add(std::move(c));
    }
    CalibrationDriver::Result gr = gdriver.finish();
    r.interrupted = gr.interrupted;
    r.waited_s += gr.waited_s;
    r.wall_s += gr.wall_s;
    r.gpu_skipped = gb.skipped;
    r.gpu_device = kernels::opencl::ClContext::get()->device().name;
    // Replace any gpu samples a resumed CPU file held by this run's (the gpu file has them all).
    r.samples.samples.erase(std::remove_if(r.samples.samples.begin(), r.samples.samples.end(),
                                           [](const Sample& s) { return !s.unit.empty(); }),
                            r.samples.samples.end());
    for (Sample& s : gr.samples.samples)
      if (s.unit == "gpu" && s.ms_median > 0) r.samples.samples.push_back(std::move(s));
    r.samples.gpu_device = r.gpu_device;
    r.samples.gpu_core = o.gpu->cpus.empty() ? -1 : o.gpu->cpus[0];
    r.samples.gpu_compute_units = static_cast<int>(device_compute_units());
    save_samples(r.samples, d.samples_path);
  }
  r.profile = fit_profile(r.samples, {o.correct_drift, pol});
  return r;
}

const std::vector<std::string>& gpu_calibration_classes() {
  // copy: the device's reshape-like copies (ocl_copy), timed on the grid too; in context a calibration
  // met only the zoo's few Flattens. Depthwise 5x5 and 7x7: the OpenCL kernel loops over every tap, and
  // 3x3 samples alone cannot tell a per-tap cost from a per-output one (their MACs are 9x their outputs):
  // two 3x3 fits priced ConvNeXt's 7x7 layers at 0.3x and 1.6x their time, as they split the two.
  static const std::vector<std::string> c = {"dense_conv1x1", "dense_conv3x3", "dense_convkxk", "depthwise_conv3x3",
                                             "depthwise_conv5x5", "depthwise_conv7x7", "sparse_fb4", "sparse_fb8",
                                             "pool", "elementwise", "concat", "resize", "copy"};
  return c;
}

namespace {

ClassError class_error(const std::string& key, const std::vector<double>& errs) {
  ClassError e;
  e.klass = key;
  e.n = static_cast<int>(errs.size());
  double sq = 0;
  int within = 0;
  std::vector<double> abs_pct, pct;
  for (double x : errs) {
    sq += x * x;
    within += std::fabs(x) <= 0.10;
    abs_pct.push_back(100.0 * std::fabs(x));
    pct.push_back(100.0 * x);
  }
  e.median_pct = e.n ? quantile(pct, 0.5) : 0;
  e.rmspe = e.n ? 100.0 * std::sqrt(sq / e.n) : 0;
  e.median_abs_pct = e.n ? quantile(abs_pct, 0.5) : 0;
  e.within10 = e.n ? static_cast<double>(within) / e.n : 0;
  return e;
}

}  // namespace

std::vector<ClassError> evaluate_profile(const model::Profile& p, int per_class, uint64_t seed,
                                         const std::function<void(double, double, const std::string&)>& progress) {
  std::vector<ClassError> out;
  std::vector<std::pair<std::string, int>> cells;
  for (const auto& [key, m] : p.kernels) {
    std::string klass;
    int threads = 0;
    if (model::split_profile_key(key, &klass, &threads)) cells.emplace_back(klass, threads);
  }
  double done = 0;
  for (const auto& [klass, threads] : cells) {
    if (std::find(calibration_classes().begin(), calibration_classes().end(), klass) == calibration_classes().end())
      continue;
    const model::KernelModel& m = p.kernels.at(model::profile_key(klass, threads));
    const std::string key = model::profile_key(klass, threads);
    std::vector<double> errs;
    // A seed far from the calibration's: these instances are not in its grid.
    for (const KernelPoint& g : design(klass, threads, per_class, 1000 + seed)) {
      Sample s = measure_point(g, MeasureOptions{});
      const double pred = model::evaluate_model(m, s.features);
      errs.push_back((pred - fit_ms(s)) / fit_ms(s));
      if (progress) progress(++done, static_cast<double>(cells.size() * per_class), key);
    }
    out.push_back(class_error(key, errs));
  }
  return out;
}

std::vector<ContextRun> held_out_context_runs(int max_threads) {
  // Sizes, widths, blocks and ratios none of context_runs() uses, over every zoo family.
  const std::vector<std::pair<std::string, std::vector<std::string>>> plan = {
      {"zoo:yolov5s_like@320x0.625", {"", "block:8x4@0.7", "pattern:3"}},
      {"zoo:resnet18_like@224x0.625", {"", "block:4x4@0.8", "csr@0.9"}},
      {"zoo:mobilenetv2_like@224x1", {"", "block:8x4@0.5"}},
      {"zoo:mobileone_s0@224x1", {"", "pattern:2", "block:16x8@0.8"}},
      {"zoo:vgg_like@192x0.5", {"", "block:16x4@0.7", "block:4x1@0.9"}},
      {"zoo:regnety_like@192x0.75", {"", "block:4x4@0.6"}},
      {"zoo:resnet50_like@192x0.75", {"", "block:8x4@0.7"}},
  };
  std::vector<ContextRun> runs;
  for (const auto& [model, specs] : plan)
    for (const std::string& spec : specs)
      for (int t = 1; t <= max_threads; ++t) runs.push_back({model, spec, t});
  return runs;
}

std::vector<ClassError> evaluate_profile_in_context(
    const model::Profile& p, const std::vector<ContextRun>& runs,
    const std::function<void(double, double, const std::string&)>& progress) {
  std::map<std::string, std::vector<double>> errs;
  double done = 0;
  for (const ContextRun& r : runs) {
    for (const Sample& s : measure_context(r, {})) {
      const std::string key = model::profile_key(s.klass, r.threads);
      auto m = p.kernels.find(key);
      if (m == p.kernels.end() || !(fit_ms(s) > 0)) continue;
      errs[key].push_back((model::evaluate_model(m->second, s.features) - fit_ms(s)) / fit_ms(s));
    }
    if (progress) progress(++done, static_cast<double>(runs.size()), r.key());
  }
  std::vector<ClassError> out;
  for (const auto& [key, e] : errs) out.push_back(class_error(key, e));
  return out;
}

}  // namespace hilsim::calibration
