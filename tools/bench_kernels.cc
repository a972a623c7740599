// `hilsim bench-kernels`: our kernels against oneDNN (and XNNPACK) on the conv layers of the zoo nets,
// every baseline measured in the same run, plus the machine's peak from a large oneDNN matmul.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "command.h"
#include "common_flags.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/opencl/cl_kernels.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/util/error.h"

#if defined(HILSIM_HAVE_BASELINES)
#include "baselines/clblast_conv.h"
#include "baselines/layer_shapes.h"
#include "baselines/onednn_conv.h"
#include "baselines/xnnpack_conv.h"
#endif

DEFINE_bool(quick, false, "a few shapes and few repetitions (well under 30 s)");
DEFINE_string(filter, "",
              "only shapes with a row whose 'net/shape/kernel' matches this regular expression ('dense' for the "
              "dense rows, e.g. block_8x4 for the block-punched rows), and of their sparse rows the matching ones");
DEFINE_double(min_time_s, 0.2, "time each measurement for at least this long (after warm-up)");
DEFINE_int32(max_reps, 200, "at most this many timed repetitions per measurement");

namespace hilsim::cli {
namespace {

#if defined(HILSIM_HAVE_BASELINES)

using kernels::ConvShape;
using kernels::Epilogue;

// Median ms of fn(): warm-up, then repeat until min_time_s or max_reps (at least 3 repetitions).
double median_ms(const std::function<void()>& fn, double min_time_s, int max_reps) {
  using clock = std::chrono::steady_clock;
  const auto w0 = clock::now();
  for (int i = 0; i < 2 || std::chrono::duration<double>(clock::now() - w0).count() < 0.02; ++i) fn();
  std::vector<double> t;
  const auto t0 = clock::now();
  while (t.size() < 3 || (static_cast<int>(t.size()) < max_reps &&
                          std::chrono::duration<double>(clock::now() - t0).count() < min_time_s)) {
    const auto a = clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

struct Row {
  std::string net, kernel, shape, baseline, block, impl;
  double sparsity = 0.0, ms = 0.0, baseline_ms = 0.0;
  double dense_flops = 0.0, actual_flops = 0.0;
  double max_rel_err = 0.0;  // ours vs the baseline's output (sanity: both compute the same layer)
  // Sparse rows: ours vs our dense kernel on the mask-zeroed weights (what the sparse kernel must equal).
  double max_rel_err_masked = NAN;
};

// Random inputs in [-1, 1], weights scaled by 1/sqrt(fan-in) so outputs stay O(1), small biases.
void random_layer(const ConvShape& s, std::mt19937& rng, std::vector<float>* in, std::vector<float>* w,
                  std::vector<float>* bias) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  in->resize(static_cast<size_t>(s.n * s.c * s.h * s.w));
  w->resize(static_cast<size_t>(s.weight_count()));
  bias->resize(static_cast<size_t>(s.f));
  for (auto& x : *in) x = dist(rng);
  const float wscale = 1.0f / std::sqrt(static_cast<float>(s.weight_count() / s.f));
  for (auto& x : *w) x = dist(rng) * wscale;
  for (auto& x : *bias) x = dist(rng) * 0.1f;
}

// One line of the summary: the geometric mean of speed-ups (baseline_ms / ms) over the shapes of one
// kernel family, sparsity and baseline, the figures the kernel goals are stated in.
struct SummaryLine {
  std::string family, baseline;
  double sparsity = 0.0;
  int shapes = 0;
  double geomean = 0.0, worst = 0.0, best = 0.0;
};

// Dense and depthwise rows group by their cost-model class (dense_conv3x3), sparse rows by the kernel's
// name without its ISA (block_8x4), in first-seen order.
std::vector<SummaryLine> summarize(const std::vector<Row>& rows) {
  std::vector<SummaryLine> lines;
  std::vector<double> log_sum;
  for (const Row& r : rows) {
    if (!(r.ms > 0) || !(r.baseline_ms > 0)) continue;
    std::string family = r.sparsity > 0 ? r.kernel : model::kernel_class_of(r.kernel);
    if (family.empty()) family = r.kernel;
    for (const char* isa : {"_avx512", "_avx2", "_generic"}) {
      const std::string suffix = isa;
      if (family.size() > suffix.size() && family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0)
        family.resize(family.size() - suffix.size());
    }
    const double x = r.baseline_ms / r.ms;
    size_t i = 0;
    while (i < lines.size() && !(lines[i].family == family && lines[i].baseline == r.baseline &&
                                 std::abs(lines[i].sparsity - r.sparsity) < 1e-9))
      ++i;
    if (i == lines.size()) {
      lines.push_back({family, r.baseline, r.sparsity, 0, 0.0, x, x});
      log_sum.push_back(0.0);
    }
    SummaryLine& l = lines[i];
    ++l.shapes, log_sum[i] += std::log(x), l.worst = std::min(l.worst, x), l.best = std::max(l.best, x);
  }
  for (size_t i = 0; i < lines.size(); ++i) lines[i].geomean = std::exp(log_sum[i] / lines[i].shapes);
  return lines;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0.0, m = 1.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    m = std::max(m, static_cast<double>(std::fabs(b[i])));
  }
  return d / m;
}

// What one shape's measurements share: the data, and oneDNN's dense time (the reference every sparse
// row is compared against).
struct ShapeContext {
  const bench::LayerShape* layer;
  std::vector<float> in, w, bias;
  Epilogue ep;
  double onednn_ms = 0.0;
  double dense_ms = 0.0;  // our dense kernel
};

// Extra rows per shape (sparse kernels). Each provider runs its kernel(s) for the shape and returns rows
// with baseline_ms filled from ctx (oneDNN dense, or our dense for pattern pruning).
using RowProvider = std::function<std::vector<Row>(const ShapeContext& ctx, kernels::ThreadPool& pool,
                                                   double min_time_s, int max_reps)>;
std::vector<RowProvider>& row_providers() {
  static std::vector<RowProvider> v;
  return v;
}
// The sparse configurations timed on a shape: block-punched 8x4 at 0.8 / 0.9 and CSR 1x1 at 0.9 against
// oneDNN dense (the goal's baseline), pattern 2EP on 3x3 against our own dense 3x3.
struct SparseCase {
  kernels::SparseFormat fmt;
  bool vs_our_dense = false;  // else vs oneDNN
  double sparsity = 0.0;
  std::string block;
};
std::vector<SparseCase> sparse_cases(const ConvShape& s) {
  std::vector<SparseCase> v;
  if (s.groups != 1) return v;
  for (double ratio : {0.8, 0.9}) {
    SparseCase c;
    c.fmt.kind = kernels::SparseKind::kBlock, c.fmt.bf = 8, c.fmt.bc = 4, c.fmt.ratio = ratio;
    c.sparsity = ratio, c.block = "8x4";
    v.push_back(c);
  }
  if (s.kh == 3 && s.kw == 3) {
    SparseCase c;
    c.fmt.kind = kernels::SparseKind::kPattern, c.fmt.entries = 2;
    c.vs_our_dense = true, c.sparsity = 7.0 / 9.0;
    v.push_back(c);
  }
  if (s.kh == 1 && s.kw == 1 && !s.pad_top && !s.pad_left && !s.pad_bottom && !s.pad_right) {
    SparseCase c;
    c.fmt.kind = kernels::SparseKind::kCsr, c.fmt.ratio = 0.9;
    c.sparsity = 0.9;
    v.push_back(c);
  }
  return v;
}

// Whether --filter can match any row of this shape: the dense rows ('net/shape/dense') or a sparse one
// (by the name its kernel will report), so e.g. --filter block_8x4 keeps every shape that has such a row.
bool shape_matches(const bench::LayerShape& l, const std::regex& filter) {
  const std::string key = l.net + "/" + l.shape.str() + "/";
  if (std::regex_search(key + "dense", filter)) return true;
  for (const SparseCase& c : sparse_cases(l.shape))
    if (std::regex_search(key + kernels::sparse_conv_kernel_name(c.fmt, kernels::active_isa()), filter)) return true;
  return false;
}

// Sparse rows, one per case. Every row runs the production path (mask generator -> packer ->
// prepare_sparse_conv) and checks its output against our dense kernel on the masked weights, so a fast
// but wrong kernel shows in the table.
std::vector<Row> sparse_rows(const ShapeContext& ctx, kernels::ThreadPool& pool, double min_time, int max_reps) {
  const ConvShape& s = ctx.layer->shape;
  std::vector<Row> rows;
  std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w())), want(out.size());
  auto time_one = [&](const kernels::SparseFormat& fmt, const std::string& baseline, double baseline_ms,
                      double sparsity, const std::string& block) {
    const kernels::PruneMask m = kernels::format_mask(s, ctx.w.data(), fmt);
    const kernels::ConvDesc d{s, ctx.ep, fmt};
    auto k = kernels::prepare_sparse_conv(d, kernels::pack_sparse_rows(s, ctx.w.data(), m.keep, fmt.row_height()),
                                          ctx.bias.data());
    Row r;
    r.kernel = k->kernel_name();
    r.shape = s.str();
    r.baseline = baseline;
    r.baseline_ms = baseline_ms;
    r.sparsity = sparsity;
    r.block = block;
    r.ms = median_ms([&] { k->run(ctx.in.data(), out.data(), pool); }, min_time, max_reps);
    r.dense_flops = 2.0 * static_cast<double>(s.macs());
    r.actual_flops = 2.0 * static_cast<double>(k->executed_macs());
    r.max_rel_err = NAN;
    const std::vector<float> masked = kernels::apply_mask(m, ctx.w.data(), s.weight_count());
    kernels::prepare_dense_conv(s, masked.data(), ctx.bias.data(), ctx.ep)->run(ctx.in.data(), want.data(), pool);
    r.max_rel_err_masked = rel_err(out, want);
    rows.push_back(r);
  };
  for (const SparseCase& c : sparse_cases(s))
    time_one(c.fmt, c.vs_our_dense ? "ours_dense" : "onednn", c.vs_our_dense ? ctx.dense_ms : ctx.onednn_ms,
             c.sparsity, c.block);
  return rows;
}
const bool registered_sparse = [] {
  row_providers().push_back(sparse_rows);
  return true;
}();

// --unit gpu: our OpenCL dense conv against CLBlast's im2col + SGEMM on the same device and queue, and
// our OpenCL block-punched 8x4 at 0.8 against our OpenCL dense; every figure a wall-clock median of a
// blocking run on device-resident buffers (what the runtime's gpu unit pays per kernel).
int run_bench_gpu(const std::vector<const bench::LayerShape*>& todo, double min_time, int max_reps) {
  namespace cl = kernels::opencl;
  if (std::string why = cl::ClContext::unavailable_reason(); !why.empty())
    throw Error("--unit gpu", "no OpenCL device: " + why);
  const std::string no_clblast = bench::clblast_unavailable_reason();
  auto ctx = cl::ClContext::get();
  std::cerr << "bench-kernels: OpenCL device '" << ctx->device().name << "' (" << ctx->device().platform << ", "
            << ctx->device().compute_units << " compute units)\n";
  if (!no_clblast.empty()) std::cerr << "  CLBlast baseline skipped: " << no_clblast << "\n";
  std::vector<Row> rows;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  bool cols_transposed = false, layout_known = false;
  for (size_t i = 0; i < todo.size(); ++i) {
    const auto& l = *todo[i];
    const ConvShape& s = l.shape;
    if (s.groups != 1) continue;
    std::cerr << "\r  [" << i + 1 << "/" << todo.size() << "] " << l.net << " " << s.str() << "            " << std::flush;
    std::vector<float> in(static_cast<size_t>(s.n * s.c * s.h * s.w)), w(static_cast<size_t>(s.weight_count())),
        bias(static_cast<size_t>(s.f));
    for (auto& x : in) x = dist(rng);
    const float wscale = 1.0f / std::sqrt(static_cast<float>(s.weight_count() / s.f));
    for (auto& x : w) x = dist(rng) * wscale;
    for (auto& x : bias) x = dist(rng) * 0.1f;
    Epilogue ep;
    ep.act = l.act;
    const size_t out_n = static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w());
    auto din = cl::to_device(in);
    auto dout = ctx->alloc(out_n * 4);
    auto dense = cl::prepare_cl_conv(s, w.data(), bias.data(), ep);
    const double dense_ms = median_ms([&] { dense->run_device(*din, *dout); }, min_time, max_reps);
    const double flops = 2.0 * static_cast<double>(s.macs());
    if (no_clblast.empty()) {
      bench::ClblastConv blas(s, w.data());
      // Both sides without bias and activation for the check (CLBlast has no epilogue).
      auto plain = cl::prepare_cl_conv(s, w.data(), nullptr, Epilogue{});
      auto dref = ctx->alloc(out_n * 4);
      plain->run_device(*din, *dref);
      const std::vector<float> want = cl::from_device(*dref, out_n);
      auto check = [&] {
        blas.set_columns_transposed(cols_transposed);
        blas.run(*din, *dout);
        return rel_err(cl::from_device(*dout, out_n), want);
      };
      double err = check();
      if (!layout_known && err > 1e-3) {
        cols_transposed = !cols_transposed;
        err = check();
      }
      layout_known = layout_known || err <= 1e-3;
      Row r;
      r.net = l.net, r.kernel = dense->kernel_name(), r.shape = s.str(), r.baseline = "clblast_im2col_gemm";
      r.baseline_ms = median_ms([&] { blas.run(*din, *dout); }, min_time, max_reps);
      r.ms = dense_ms;
      r.dense_flops = r.actual_flops = flops;
      r.max_rel_err = err;
      rows.push_back(r);
    }
    kernels::SparseFormat block;
    block.kind = kernels::SparseKind::kBlock, block.bf = 8, block.bc = 4, block.ratio = 0.8;
    const kernels::PruneMask m = kernels::format_mask(s, w.data(), block);
    auto sparse = cl::prepare_cl_sparse_conv(kernels::ConvDesc{s, ep, block},
                                             kernels::pack_sparse_rows(s, w.data(), m.keep, block.row_height()),
                                             bias.data());
    Row r;
    r.net = l.net, r.kernel = sparse->kernel_name(), r.shape = s.str(), r.baseline = "ours_ocl_dense";
    r.ms = median_ms([&] { sparse->run_device(*din, *dout); }, min_time, max_reps);
    r.baseline_ms = dense_ms;
    r.sparsity = 0.8, r.block = "8x4";
    r.dense_flops = flops;
    r.actual_flops = 2.0 * static_cast<double>(sparse->executed_macs());
    r.max_rel_err = NAN;
    const std::vector<float> got = cl::from_device(*dout, out_n);
    const std::vector<float> masked = kernels::apply_mask(m, w.data(), s.weight_count());
    cl::prepare_cl_conv(s, masked.data(), bias.data(), ep)->run_device(*din, *dout);
    r.max_rel_err_masked = rel_err(got, cl::from_device(*dout, out_n));
    rows.push_back(r);
  }
  std::cerr << "\r  done: " << todo.size() << " shapes" << std::string(40, ' ') << "\n";
  if (FLAGS_json) {
    nlohmann::json j;
    j["unit"] = "gpu";
    j["device"] = ctx->device().name;
    j["platform"] = ctx->device().platform;
    j["results"] = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json o = {{"net", r.net},           {"kernel", r.kernel},     {"shape", r.shape},
                          {"sparsity", r.sparsity}, {"block", r.block},       {"ms", r.ms},
                          {"baseline", r.baseline}, {"baseline_ms", r.baseline_ms}, {"speedup", r.baseline_ms / r.ms},
                          {"gflops_dense_equiv", r.dense_flops / (r.ms * 1e6)},
                          {"gflops_actual", r.actual_flops / (r.ms * 1e6)}};
      if (!std::isnan(r.max_rel_err)) o["max_rel_err_vs_baseline"] = r.max_rel_err;
      if (!std::isnan(r.max_rel_err_masked)) o["max_rel_err_vs_masked_dense"] = r.max_rel_err_masked;
      j["results"].push_back(o);
    }
    print_json(j);
    return kExitOk;
  }
  std::printf("%-18s %-26s %-30s %-20s %5s %9s %11s %7s %8s %11s\n", "net", "shape", "kernel", "baseline", "spars",
              "ms", "baseline_ms", "speedup", "GFLOP/s", "max_rel_err");
  for (const auto& r : rows) {
    const double err = std::isnan(r.max_rel_err_masked) ? r.max_rel_err : r.max_rel_err_masked;
    std::printf("%-18s %-26s %-30s %-20s %5.2f %9.4f %11.4f %6.2fx %8.1f %11.2e\n", r.net.c_str(), r.shape.c_str(),
                r.kernel.c_str(), r.baseline.c_str(), r.sparsity, r.ms, r.baseline_ms, r.baseline_ms / r.ms,
                r.dense_flops / (r.ms * 1e6), err);
  }
  return kExitOk;
}

int run_bench(const std::vector<std::string>& positional) {
  no_positional_args(positional, "bench-kernels");
  if (!FLAGS_unit.empty() && FLAGS_unit != "cpu" && FLAGS_unit != "gpu")
    throw Error("--unit", "'" + FLAGS_unit + "' is not cpu or gpu");
  const int threads = threads_from_flags();
  const double min_time = FLAGS_quick ? std::min(FLAGS_min_time_s, 0.05) : FLAGS_min_time_s;
  const int max_reps = FLAGS_quick ? std::min(FLAGS_max_reps, 20) : FLAGS_max_reps;
  std::optional<std::regex> filter;
  if (!FLAGS_filter.empty()) {
    try {
      filter.emplace(FLAGS_filter);
    } catch (const std::regex_error& e) {
      throw Error("--filter", std::string("bad regular expression: ") + e.what());
    }
  }
  std::vector<const bench::LayerShape*> todo;
  for (const auto& l : bench::layer_shapes()) {
    if (FLAGS_quick && !l.quick) continue;
    if (filter && !shape_matches(l, *filter)) continue;
    todo.push_back(&l);
  }
  if (FLAGS_unit == "gpu") return run_bench_gpu(todo, min_time, max_reps);
  kernels::ThreadPool pool(threads);
  bench::set_onednn_threads(threads);

  std::cerr << "bench-kernels: " << threads << " thread(s), ISA " << kernels::isa_name(kernels::active_isa()) << "\n";
  // Peak: a large matmul, oneDNN at its best.
  double peak_gflops = 0.0;
  {
    bench::OnednnMatmul mm(1024, 1024, 1024);
    const double ms = median_ms([&] { mm.run(); }, FLAGS_quick ? 0.1 : 0.3, 30);
    peak_gflops = mm.flops() / (ms * 1e6);
    std::cerr << "  peak (oneDNN 1024^3 matmul): " << peak_gflops << " GFLOP/s\n";
  }

  std::vector<Row> rows;
  std::mt19937 rng(42);
  for (size_t i = 0; i < todo.size(); ++i) {
    const auto& l = *todo[i];
    const ConvShape& s = l.shape;
    std::cerr << "\r  [" << i + 1 << "/" << todo.size() << "] " << l.net << " " << s.str() << "            " << std::flush;
    ShapeContext ctx;
    ctx.layer = &l;
    random_layer(s, rng, &ctx.in, &ctx.w, &ctx.bias);
    ctx.ep.act = l.act;

    auto ours = kernels::prepare_dense_conv(s, ctx.w.data(), ctx.bias.data(), ctx.ep);
    std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()));
    ctx.dense_ms = median_ms([&] { ours->run(ctx.in.data(), out.data(), pool); }, min_time, max_reps);

    bench::OnednnConv dnnl(s, ctx.w.data(), ctx.bias.data(), ctx.ep);
    dnnl.set_input_nchw(ctx.in.data());
    ctx.onednn_ms = median_ms([&] { dnnl.run(); }, min_time, max_reps);

    const double flops = 2.0 * static_cast<double>(s.macs());
    auto dense_row = [&](const std::string& baseline, double bms, double err, const std::string& impl) {
      Row r;
      r.net = l.net, r.kernel = ours->kernel_name(), r.shape = s.str(), r.baseline = baseline, r.impl = impl;
      r.ms = ctx.dense_ms, r.baseline_ms = bms;
      r.dense_flops = r.actual_flops = flops;
      r.max_rel_err = err;
      return r;
    };
    rows.push_back(dense_row("onednn", ctx.onednn_ms, rel_err(out, dnnl.output_nchw()), dnnl.impl_name()));

    bench::XnnpackConv xnn(s, ctx.w.data(), ctx.bias.data(), ctx.ep, threads);
    xnn.set_input_nchw(ctx.in.data());
    const double xnn_ms = median_ms([&] { xnn.run(); }, min_time, max_reps);
    rows.push_back(dense_row(xnn.act_fused() ? "xnnpack" : "xnnpack_no_act", xnn_ms,
                             xnn.act_fused() ? rel_err(out, xnn.output_nchw()) : NAN, ""));

    for (const auto& provider : row_providers()) {
      for (auto& r : provider(ctx, pool, min_time, max_reps)) {
        if (filter && !std::regex_search(l.net + "/" + r.shape + "/" + r.kernel, *filter)) continue;
        r.net = l.net;
        rows.push_back(std::move(r));
      }
    }
  }
  // Depthwise convs (MobileNetV2, EfficientNet-B0, ConvNeXt): ours against oneDNN and XNNPACK on the same layer.
  std::vector<const bench::LayerShape*> dw_todo;
  for (const auto& l : bench::depthwise_shapes())
    if ((!FLAGS_quick || l.quick) && (!filter || std::regex_search(l.net + "/" + l.shape.str() + "/depthwise", *filter)))
      dw_todo.push_back(&l);
  for (size_t i = 0; i < dw_todo.size(); ++i) {
    const auto& l = *dw_todo[i];
    const ConvShape& s = l.shape;
    std::cerr << "\r  [depthwise " << i + 1 << "/" << dw_todo.size() << "] " << l.net << " " << s.str() << "      " << std::flush;
    std::vector<float> in, w, bias;
    random_layer(s, rng, &in, &w, &bias);
    Epilogue ep;
    ep.act = l.act;
    auto ours = kernels::prepare_depthwise_conv(s, w.data(), bias.data(), ep, kernels::active_isa());
    std::vector<float> out(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()));
    const double ms = median_ms([&] { ours->run(in.data(), out.data(), pool); }, min_time, max_reps);
    auto row = [&](const std::string& baseline, double bms, double err, const std::string& impl) {
      Row r;
      r.net = l.net, r.kernel = ours->kernel_name(), r.shape = s.str(), r.baseline = baseline, r.impl = impl;
      r.ms = ms, r.baseline_ms = bms;
      r.dense_flops = r.actual_flops = 2.0 * static_cast<double>(s.macs());
      r.max_rel_err = err;
      return r;
    };
    bench::OnednnConv dnnl(s, w.data(), bias.data(), ep);
    dnnl.set_input_nchw(in.data());
    const double dnnl_ms = median_ms([&] { dnnl.run(); }, min_time, max_reps);
    rows.push_back(row("onednn", dnnl_ms, rel_err(out, dnnl.output_nchw()), dnnl.impl_name()));
    bench::XnnpackConv xnn(s, w.data(), bias.data(), ep, threads);
    xnn.set_input_nchw(in.data());
    const double xnn_ms = median_ms([&] { xnn.run(); }, min_time, max_reps);
    rows.push_back(row(xnn.act_fused() ? "xnnpack" : "xnnpack_no_act", xnn_ms,
                       xnn.act_fused() ? rel_err(out, xnn.output_nchw()) : NAN, ""));
  }
  std::cerr << "\r  done: " << todo.size() + dw_todo.size() << " shapes" << std::string(40, ' ') << "\n";

  if (FLAGS_json) {
    nlohmann::json j;
    j["peak_gflops"] = peak_gflops;
    j["threads"] = threads;
    j["isa"] = kernels::isa_name(kernels::active_isa());
    j["results"] = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json o = {{"net", r.net},
                          {"kernel", r.kernel},
                          {"class", model::kernel_class_of(r.kernel)},
                          {"shape", r.shape},
                          {"sparsity", r.sparsity},
                          {"block", r.block},
                          {"ms", r.ms},
                          {"baseline", r.baseline},
                          {"baseline_ms", r.baseline_ms},
                          {"speedup", r.baseline_ms / r.ms},
                          {"gflops_dense_equiv", r.dense_flops / (r.ms * 1e6)},
                          {"gflops_actual", r.actual_flops / (r.ms * 1e6)}};
      if (!r.impl.empty()) o["baseline_impl"] = r.impl;
      if (!std::isnan(r.max_rel_err)) o["max_rel_err_vs_baseline"] = r.max_rel_err;
      if (!std::isnan(r.max_rel_err_masked)) o["max_rel_err_vs_masked_dense"] = r.max_rel_err_masked;
      j["results"].push_back(o);
    }
    j["summary"] = nlohmann::json::array();
    for (const SummaryLine& l : summarize(rows))
      j["summary"].push_back({{"family", l.family},
                              {"baseline", l.baseline},
                              {"sparsity", l.sparsity},
                              {"shapes", l.shapes},
                              {"geomean_speedup", l.geomean},
                              {"min_speedup", l.worst},
                              {"max_speedup", l.best}});
    print_json(j);
    return kExitOk;
  }
  std::printf("peak %.1f GFLOP/s (oneDNN 1024^3 matmul), %d thread(s)\n\n", peak_gflops, threads);
  // max_rel_err: dense rows against the baseline's output, sparse rows against the masked dense reference.
  std::printf("%-18s %-26s %-38s %-15s %5s %9s %11s %7s %8s %5s %11s\n", "net", "shape", "kernel", "baseline",
              "spars", "ms", "baseline_ms", "speedup", "GFLOP/s", "%peak", "max_rel_err");
  for (const auto& r : rows) {
    const double gf = r.dense_flops / (r.ms * 1e6);
    const double err = std::isnan(r.max_rel_err_masked) ? r.max_rel_err : r.max_rel_err_masked;
    std::printf("%-18s %-26s %-38s %-15s %5.2f %9.4f %11.4f %6.2fx %8.1f %4.0f%% %11.2e\n", r.net.c_str(),
                r.shape.c_str(), r.kernel.c_str(), r.baseline.c_str(), r.sparsity, r.ms, r.baseline_ms,
                r.baseline_ms / r.ms, gf, 100.0 * gf / peak_gflops, err);
  }
  std::printf("\nspeed-up over the shapes (geometric mean, min..max), per kernel family, sparsity and baseline\n");
  std::printf("%-24s %5s %-15s %6s %8s %17s\n", "family", "spars", "baseline", "shapes", "geomean", "min..max");
  for (const SummaryLine& l : summarize(rows))
    std::printf("%-24s %5.2f %-15s %6d %7.2fx %7.2fx..%6.2fx\n", l.family.c_str(), l.sparsity, l.baseline.c_str(),
                l.shapes, l.geomean, l.worst, l.best);
  return kExitOk;
}

#else

int run_bench(const std::vector<std::string>&) {
  throw Error("bench-kernels", "this build has no baselines (configure with HILSIM_BUILD_BENCH=ON)");
}

#endif

const Register reg({"bench-kernels",
                    "kernel speed vs oneDNN/XNNPACK on the zoo nets' conv layers, same run",
                    "hilsim bench-kernels [--quick] [--threads N] [--json] [--filter REGEX] [--unit cpu|gpu]\n\n"
                    "Times our dense and sparse conv kernels on every distinct conv shape of yolov5s_like@320 and\n"
                    "resnet18_like@224 against oneDNN (its preferred blocked layout, same fused activation)\n"
                    "and XNNPACK (NHWC; only clamp activations fuse), all in this process. Each figure is a\n"
                    "median after warm-up; speedup = baseline_ms / ms. Progress goes to stderr. A summary ends\n"
                    "the table (JSON: summary): per kernel family, sparsity and baseline, the geometric mean of\n"
                    "the speed-ups over the shapes, with the slowest and fastest.\n"
                    "Then the depthwise convs of MobileNetV2 and EfficientNet-B0 at 224 (3x3 and 5x5, stride 1\n"
                    "and 2) and ConvNeXt-base at 224 and 96 (7x7): our depthwise kernel against oneDNN's and\n"
                    "XNNPACK's (--filter on 'net/shape/depthwise').\n"
                    "--unit gpu times our OpenCL kernels on the OpenCL device instead: dense conv vs CLBlast\n"
                    "im2col+SGEMM (when libclblast.so.1 is there; CLBlast fuses no bias or activation) and\n"
                    "block-punched 8x4 at 0.8 vs our OpenCL dense, on device-resident buffers.",
                    {"quick", "threads", "json", "filter", "min_time_s", "max_reps", "unit"},
                    run_bench});

}  // namespace
}  // namespace hilsim::cli
