#include "hilsim/runtime/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/opencl/cl_kernels.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/runtime/memory_plan.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/graph/passes/channel_split.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/gpu_lowering.h"
#include "hilsim/runtime/op_lowering.h"
#include "hilsim/runtime/sparse_select.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

using graph::Graph;
using graph::Op;
using graph::OpId;
using graph::Shape;
using Clock = std::chrono::steady_clock;
namespace cl = kernels::opencl;

namespace {

double ms_since(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

}  // namespace

struct Executor::Impl {
  struct Buffer {
    std::string name;
    Shape shape;
    int64_t elems = 0;
    int64_t offset = 0;  // bytes into the arena
    int producer = -1;   // step index, -1 = graph input
    int unit = 0;        // unit of the producer (graph inputs: every unit may read them at once)
    std::atomic<uint64_t> ready{0};
    // A step of another unit waits for it: only then does its producer publish it. A wake per op
    // output, awaited or not, cost ~6 us an op: a branch split that left every op on one unit ran 11%
    // slower than that unit alone (MobileNetV2, PoCL beside a CPU core), 4% without the wakes.
    bool awaited = false;
  };
  struct Step {
    int op = 0;  // index into ops
    int unit = 0;
    std::vector<int> in;   // buffer per input (-1: constant or absent)
    std::vector<int> out;  // buffer per output
    std::vector<int> wait; // buffers produced on another unit
    std::function<void(kernels::ThreadPool&)> fn;
    // A step of the gpu unit that runs an OpenCL kernel: dev_fn on device buffers, with the inputs
    // that live on the host copied in before it and the outputs the host needs copied out after it.
    bool on_device = false;
    std::function<double()> dev_fn;
    std::vector<int> upload, download;
    double transfer_ms = 0;  // of the last run, from the copies' profiling events
  };
  struct UnitWorker {
    std::thread thread;
    std::unique_ptr<kernels::ThreadPool> pool;
    std::vector<int> steps;
  };

  ExecOptions opts;
  Graph g;
  std::vector<CompiledOp> ops;
  std::vector<UnitDef> units;
  std::vector<std::unique_ptr<Buffer>> buffers;
  std::map<std::string, int> buffer_of;
  std::vector<Step> steps;
  kernels::AlignedFloats arena;
  int64_t arena_bytes = 0, peak_live = 0;

  // Per-unit workers for multi-unit runs; the single-unit case runs on the caller's thread.
  std::unique_ptr<kernels::ThreadPool> main_pool;
  std::vector<std::unique_ptr<UnitWorker>> workers;
  std::mutex mu;
  std::condition_variable cv_go, cv_done;
  uint64_t generation = 0;
  int pending = 0;
  bool stopping = false;
  RunTiming* timing = nullptr;
  Clock::time_point run_start;
  std::atomic<int> crossings{0};
  std::atomic<int64_t> wait_ns{0};

  // The OpenCL device of the gpu unit (if any) and the device copy of each buffer its kernels touch.
  int gpu_unit = -1;
  std::shared_ptr<cl::ClContext> cl_ctx;
  std::vector<cl::ClBufferPtr> dev;
  void open_gpu();
  void plan_transfers();

  float* ptr(int b) { return arena.get() + buffers[b]->offset / 4; }

  void compile();
  void split_channels(const std::map<std::string, int>& unit_index);
  void build_step(OpId id, int step_index, int unit);
  void run_steps(const std::vector<int>& list, kernels::ThreadPool& pool, uint64_t gen);
  void worker_loop(int u);
  ~Impl() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stopping = true;
    }
    cv_go.notify_all();
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
  }
};

void Executor::Impl::compile() {
  // BNs and pads folded into the conv after them and GELU's parts merged into one node: a plan or unit assignment may
  // still name them (it was made on a graph that had them), and they no longer exist to run anywhere.
  std::set<std::string> folded_away;
  if (opts.canonicalize) {
    for (auto& n : graph::passes::canonicalize(g).folded_away) folded_away.insert(n);
  } else {
    graph::infer_shapes(g);
  }

  // Units: the default is one unit on `threads` threads.
  if (units.empty()) {
    UnitDef u;
    u.id = "cpu";
    if (opts.pin)
      for (int i = 0; i < std::max(1, opts.threads); ++i) u.cpus.push_back(i);
    units.push_back(u);
  }
  std::map<std::string, int> unit_index;
  for (size_t i = 0; i < units.size(); ++i) unit_index[units[i].id] = static_cast<int>(i);
  split_channels(unit_index);
  for (size_t i = 0; i < units.size(); ++i)
    if (units[i].kind == "gpu") gpu_unit = static_cast<int>(i);
  if (gpu_unit >= 0) open_gpu();
  for (const auto& [op, u] : opts.op_unit) {
    if (folded_away.count(op)) continue;
    if (!g.find_op(op)) throw Error("unit assignment for op '" + op + "'", "the model has no such op");
    if (!unit_index.count(u)) throw Error("unit assignment for op '" + op + "'", "unit '" + u + "' is not defined");
  }
  for (const auto& [op, pc] : opts.prepacked)
    if (!g.find_op(op)) throw Error("packed weights for op '" + op + "'", "the model has no such op");
  for (const auto& [op, ls] : opts.sparsity.layers) {
    if (!g.find_op(op)) {
      // A BN or activation folded away by the passes is not an error; anything else is.
      throw Error("sparsity spec: field '" + op + "'", "the model has no op of that name (after BN folding and fusion)");
    }
  }

  std::vector<OpId> order = g.topological_order();
  // Buffers: graph inputs, then every op output.
  auto add_buffer = [&](const std::string& name, int producer, int unit) {
    const graph::TensorInfo* ti = g.tensor_info(name);
    if (!ti || !ti->known) throw Error("tensor '" + name + "'", "has no known shape after shape inference");
    if (ti->dtype != graph::DType::kFloat32)
      throw Error("tensor '" + name + "'", std::string("is ") + graph::dtype_name(ti->dtype) +
                                              "; the executor runs fp32 activations only (fold shape chains first)");
    auto b = std::make_unique<Buffer>();
    b->name = name;
    b->shape = ti->shape;
    b->elems = graph::numel(ti->shape);
    b->producer = producer;
    b->unit = unit;
    buffer_of[name] = static_cast<int>(buffers.size());
    buffers.push_back(std::move(b));
  };
  for (const auto& in : g.inputs())
    if (!g.is_constant(in)) add_buffer(in, -1, -1);

  steps.resize(order.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const Op& op = g.op(order[k]);
    auto it = opts.op_unit.find(op.name);
    int u = it == opts.op_unit.end() ? 0 : unit_index[it->second];
    for (const auto& o : op.outputs)
      if (!o.empty()) add_buffer(o, static_cast<int>(k), u);
    build_step(order[k], static_cast<int>(k), u);
  }

  // Lifetimes over the topological order. With several units running concurrently a buffer freed
  // "after step k" may still be read on another unit, so a tensor that crosses units (or is a graph
  // input) keeps its own bytes for the whole run. A tensor written and read on one unit only is reused
  // within that unit's region: the unit runs its steps in topological order, so lifetimes there are
  // exact, and no other unit ever touches the region.
  std::vector<BufferRequest> req(buffers.size());
  const int end = static_cast<int>(steps.size()) + 1;
  for (size_t b = 0; b < buffers.size(); ++b) {
    req[b] = {buffers[b]->name, buffers[b]->elems * 4, buffers[b]->producer, buffers[b]->producer};
  }
  for (size_t k = 0; k < steps.size(); ++k)
    for (int b : steps[k].in)
      if (b >= 0) req[b].last = std::max(req[b].last, static_cast<int>(k));
  for (const auto& o : g.outputs())
    if (buffer_of.count(o)) req[buffer_of[o]].last = end;
  // Region per buffer: 0..units-1 = local to that unit, units = shared by all.
  const int shared_region = static_cast<int>(units.size());
  std::vector<int> region(buffers.size(), 0);
  if (units.size() > 1) {
    for (size_t b = 0; b < buffers.size(); ++b) region[b] = buffers[b]->producer < 0 ? shared_region : buffers[b]->unit;
    for (const auto& s : steps)
      for (int b : s.in)
        if (b >= 0 && region[b] != s.unit) region[b] = shared_region;
    for (size_t b = 0; b < buffers.size(); ++b)
      if (region[b] == shared_region) req[b].first = -1, req[b].last = end;
  }
  arena_bytes = peak_live = 0;
  for (int r = 0; r <= shared_region; ++r) {
    std::vector<BufferRequest> part;
    std::vector<size_t> which;
    for (size_t b = 0; b < buffers.size(); ++b)
      if (region[b] == r) part.push_back(req[b]), which.push_back(b);
    if (part.empty()) continue;
    MemoryPlan plan = plan_memory(part);
    for (size_t i = 0; i < which.size(); ++i) buffers[which[i]]->offset = arena_bytes + plan.offsets[i];
    arena_bytes += plan.arena_bytes;
    peak_live += plan.peak_live_bytes;
  }
  arena = kernels::alloc_aligned_floats(static_cast<size_t>(std::max<int64_t>(arena_bytes / 4, 16)));
  if (gpu_unit >= 0) plan_transfers();

  // Crossings: inputs produced on another unit must be waited for.
  for (auto& s : steps)
    for (int b : s.in)
      if (b >= 0 && buffers[b]->producer >= 0 && buffers[b]->unit != s.unit &&
          std::find(s.wait.begin(), s.wait.end(), b) == s.wait.end())
        s.wait.push_back(b), buffers[b]->awaited = true;

  if (units.size() == 1) {
    main_pool = std::make_unique<kernels::ThreadPool>(std::max<int>(1, units[0].cpus.empty() ? opts.threads
                                                                                         : static_cast<int>(units[0].cpus.size())),
                                                      units[0].cpus);
  } else {
    for (size_t u = 0; u < units.size(); ++u) {
      auto w = std::make_unique<UnitWorker>();
      for (size_t k = 0; k < steps.size(); ++k)
        if (steps[k].unit == static_cast<int>(u)) w->steps.push_back(static_cast<int>(k));
      workers.push_back(std::move(w));
    }
    for (size_t u = 0; u < units.size(); ++u) workers[u]->thread = std::thread([this, u] { worker_loop(static_cast<int>(u)); });
  }
}

void Executor::Impl::split_channels(const std::map<std::string, int>& unit_index) {
  for (const auto& [op, cs] : opts.channel_splits) {
    const std::string where = "channel split of op '" + op + "'";
    if (!unit_index.count(cs.unit)) throw Error(where, "unit '" + cs.unit + "' is not defined");
    const std::optional<LayerSparsity> ls = opts.sparsity.for_op(op);
    if ((ls && ls->format != Format::kDense) || opts.prepacked.count(op))
      throw Error(where, "not supported yet: splitting a pruned or packed conv (dense convs only)");
    const graph::passes::ChannelSplitParts parts = graph::passes::split_conv_channels(g, op, cs.channels);
    opts.sparsity.layers.erase(op);  // a dense setting (a plan's) for the conv that is now two
    auto own = opts.op_unit.find(op);
    const std::string home = own == opts.op_unit.end() ? units[0].id : own->second;
    if (own != opts.op_unit.end()) opts.op_unit.erase(own);
    if (cs.unit == home) throw Error(where, "both parts on unit '" + home + "': a split needs two units");
    opts.op_unit[parts.first] = cs.unit;
    opts.op_unit[parts.second] = home;
    opts.op_unit[parts.join] = home;
    // The parts stay dense whatever a uniform spec says (pruning each half apart is another mask).
    for (const std::string& part : {parts.first, parts.second}) opts.sparsity.layers[part] = LayerSparsity{};
  }
}

void Executor::Impl::build_step(OpId id, int k, int unit) {
  const Op& op = g.op(id);
  Step& s = steps[k];
  s.op = static_cast<int>(ops.size());
  s.unit = unit;
  for (const auto& in : op.inputs) s.in.push_back(!in.empty() && buffer_of.count(in) ? buffer_of[in] : -1);
  for (const auto& o : op.outputs) s.out.push_back(o.empty() ? -1 : buffer_of.at(o));
  CompiledOp rec;
  rec.name = op.name;
  rec.type = op.type;
  rec.unit = units[unit].id;
  std::string where = "node '" + op.name + "'";

  if (op.type == "Conv") {
    if (!g.is_constant(op.inputs.at(1))) throw Error(where, "conv weights must be constant to be packed");
    kernels::ConvShape cs = conv_shape_of(g, op);
    const graph::Tensor* bias = op.input(2) ? g.constant(*op.input(2)) : nullptr;
    if (op.input(2) && !bias) throw Error(where, "conv bias must be constant");
    std::optional<LayerSparsity> ls = opts.sparsity.for_op(op.name);
    const bool explicit_layer = opts.sparsity.layers.count(op.name) != 0;
    SparseChoice choice;
    if (auto pp = opts.prepacked.find(op.name); pp != opts.prepacked.end()) {
      const PrepackedConv& pc = *pp->second;
      if (static_cast<int64_t>(pc.bias.size()) != cs.f) throw Error(where, "packed bias does not match the conv");
      kernels::ConvDesc d{cs, epilogue_of(op), kernels::SparseFormat::from_name(pc.label, where)};
      choice.kernel = kernels::prepare_sparse_conv(d, pc.rows, pc.bias.data());
      choice.format = "packed";
    } else {
      choice = choose_sparse_kernel(g, op, cs, ls, explicit_layer, opts.detect_structure, epilogue_of(op));
    }
    const bool on_gpu = units[unit].kind == "gpu";
    if (on_gpu && (!choice.kernel || choice.rows || opts.prepacked.count(op.name))) {
      // The OpenCL engine runs the same weights: dense, depthwise or the same packed kept-column rows.
      std::shared_ptr<cl::ClConv> gc;
      if (auto pp = opts.prepacked.find(op.name); pp != opts.prepacked.end()) {
        kernels::ConvDesc d{cs, epilogue_of(op), kernels::SparseFormat::from_name(pp->second->label, where)};
        gc = cl::prepare_cl_sparse_conv(d, pp->second->rows, pp->second->bias.data());
      } else if (choice.rows) {
        gc = cl::prepare_cl_sparse_conv(choice.desc, *choice.rows, bias ? bias->f32.data() : nullptr);
      } else {
        const cl::ClTile untuned;
        gc = cl::prepare_cl_conv(cs, g.constant(op.inputs[1])->f32.data(), bias ? bias->f32.data() : nullptr,
                                 epilogue_of(op), opts.gpu_tune ? nullptr : &untuned);
      }
      if (choice.kernel) {
        rec.format = choice.format;
        rec.kept_saliency = choice.kept_saliency;
        if (choice.pruned_weights) g.mutable_constant(op.inputs[1])->f32 = std::move(*choice.pruned_weights);
      }
      rec.kernel = gc->kernel_name();
      rec.macs = cs.macs();
      rec.executed_macs = gc->executed_macs();
      rec.weight_bytes = gc->weight_bytes();
      const int in = s.in[0], out = s.out[0];
      s.on_device = true;
      s.dev_fn = [this, gc, in, out] { return gc->run_device(*dev[in], *dev[out]); };
      ops.push_back(rec);
      return;
    }
    std::shared_ptr<kernels::PreparedConv> conv;
    if (choice.kernel) {
      conv = std::move(choice.kernel);
      rec.format = choice.format;
      rec.kept_saliency = choice.kept_saliency;
      // The compiled graph carries the pruned weights, so the reference on it is the ground truth.
      if (choice.pruned_weights) g.mutable_constant(op.inputs[1])->f32 = std::move(*choice.pruned_weights);
    } else {
      const float* w = g.constant(op.inputs[1])->f32.data();
      conv = conv_family(cs, LayerSparsity{}) == ConvFamily::kDepthwise
                 ? std::shared_ptr<kernels::PreparedConv>(kernels::prepare_depthwise_conv(cs, w, bias ? bias->f32.data() : nullptr, epilogue_of(op)))
                 : std::shared_ptr<kernels::PreparedConv>(kernels::prepare_dense_conv(cs, w, bias ? bias->f32.data() : nullptr, epilogue_of(op)));
    }
    rec.kernel = conv->kernel_name();
    rec.macs = cs.macs();
    rec.executed_macs = conv->executed_macs();
    rec.weight_bytes = conv->weight_bytes();
    int in = s.in[0], out = s.out[0];
    s.fn = [this, conv, in, out](kernels::ThreadPool& pool) { conv->run(ptr(in), ptr(out), pool); };
  } else if ((op.type == "Gemm" || op.type == "MatMul") && op.inputs.size() >= 2 && g.is_constant(op.inputs[1]) &&
             op.attr_float("alpha", 1.0f) == 1.0f && op.attr_int("transA", 0) == 0 &&
             g.shape(op.inputs[1]).size() == 2) {
    const graph::Tensor* b = g.constant(op.inputs[1]);
    bool trans_b = op.type == "Gemm" && op.attr_int("transB", 0) != 0;
    int64_t n = trans_b ? b->shape[0] : b->shape[1];
    int64_t kk = trans_b ? b->shape[1] : b->shape[0];
    const Shape& a = g.shape(op.inputs[0]);
    int64_t m = graph::numel(a) / kk;
    const float* bias = nullptr;
    std::vector<float> bias_vec;
    if (op.type == "Gemm" && op.input(2)) {
      const graph::Tensor* c = g.constant(*op.input(2));
      float beta = op.attr_float("beta", 1.0f);
      if (!c || (c->numel() != n && c->numel() != 1)) throw Error(where, "Gemm C must be a constant vector of N values");
      bias_vec.assign(static_cast<size_t>(n), 0.0f);
      for (int64_t j = 0; j < n; ++j) bias_vec[j] = beta * c->f32[c->numel() == 1 ? 0 : j];
      bias = bias_vec.data();
    }
    auto pg = std::make_shared<kernels::PreparedGemm>(n, kk, b->f32.data(), trans_b ? kk : n, trans_b, bias, epilogue_of(op));
    rec.kernel = pg->kernel_name();
    rec.macs = rec.executed_macs = m * n * kk;
    rec.weight_bytes = (n * kk + (bias ? n : 0)) * 4;
    int in = s.in[0], out = s.out[0];
    s.fn = [this, pg, in, out, m, kk, n](kernels::ThreadPool& pool) { pg->run(m, ptr(in), kk, false, ptr(out), n, pool); };
  } else {
    LoweredOp lo = lower_memory_op(g, op, s.in, s.out, [this](int b) { return ptr(b); });
    rec.kernel = lo.kernel;
    s.fn = std::move(lo.fn);
    if (units[unit].kind == "gpu") {
      if (auto gl = lower_gpu_memory_op(g, op, lo.kernel, s.in, s.out,
                                        [this](int b) -> const cl::ClBuffer& { return *dev[b]; })) {
        rec.kernel = gl->kernel;
        s.on_device = true;
        s.dev_fn = std::move(gl->fn);
      }
    }
  }
  // An op of the gpu unit with no OpenCL kernel runs on the unit's host thread, and says so.
  if (units[unit].kind == "gpu" && !s.on_device) rec.kernel = "host_" + rec.kernel;
  ops.push_back(rec);
}

std::shared_ptr<cl::ClContext> try_open_gpu_device(const UnitDef& u, std::string* why_not) {
  // Asking for the platforms already starts PoCL, so the question is asked where the device is opened.
  std::string why;
  std::shared_ptr<cl::ClContext> ctx;
  auto open = [&] {
    why = cl::ClContext::unavailable_reason();
    if (why.empty()) ctx = cl::ClContext::get();
  };
  if (u.cpus.empty()) {
    open();
  } else {
    // PoCL runs kernels on threads of its own, created when the driver starts and inheriting that
    // thread's affinity: started from a thread pinned to the unit's cores (and, unless the user set
    // it, with one PoCL thread per core), the device stays apart from the CPU units. A driver already
    // started in this process keeps its threads.
    ::setenv("POCL_MAX_PTHREAD_COUNT", std::to_string(u.cpus.size()).c_str(), 0);
    std::exception_ptr err;
    std::thread t([&] {
      try {
#if defined(__linux__)
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : u.cpus) CPU_SET(c, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#endif
        open();
      } catch (...) {
        err = std::current_exception();
      }
    });
    t.join();
    if (err) std::rethrow_exception(err);
  }
  if (why_not) *why_not = why;
  return why.empty() ? ctx : nullptr;
}

std::shared_ptr<cl::ClContext> open_gpu_device(const UnitDef& u) {
  std::string why;
  auto ctx = try_open_gpu_device(u, &why);
  if (!ctx) throw Error("unit '" + u.id + "'", "needs an OpenCL device and this machine has none: " + why);
  return ctx;
}

void Executor::Impl::open_gpu() { cl_ctx = open_gpu_device(units[static_cast<size_t>(gpu_unit)]); }

void Executor::Impl::plan_transfers() {
  // Which buffers the host needs: inputs, outputs of host steps, inputs of host steps, graph outputs.
  const size_t nb = buffers.size();
  std::vector<char> host_reads(nb, 0), is_output(nb, 0), on_dev(nb, 0);
  for (const auto& o : g.outputs())
    if (buffer_of.count(o)) is_output[static_cast<size_t>(buffer_of[o])] = 1;
  for (const auto& s : steps)
    if (!s.on_device)
      for (int b : s.in)
        if (b >= 0) host_reads[static_cast<size_t>(b)] = 1;
  dev.assign(nb, nullptr);
  std::vector<char> uploaded(nb, 0);
  for (auto& s : steps) {
    if (!s.on_device) continue;
    for (int b : s.in) {
      if (b < 0) continue;
      on_dev[static_cast<size_t>(b)] = 1;
      const int p = buffers[static_cast<size_t>(b)]->producer;
      // Made on the host (a graph input, a CPU unit, a host step): copied in before its first device reader.
      if ((p < 0 || !steps[static_cast<size_t>(p)].on_device) && !uploaded[static_cast<size_t>(b)]) {
        uploaded[static_cast<size_t>(b)] = 1;
        s.upload.push_back(b);
      }
    }
    for (int b : s.out) {
      if (b < 0) continue;
      on_dev[static_cast<size_t>(b)] = 1;
      if (host_reads[static_cast<size_t>(b)] || is_output[static_cast<size_t>(b)]) s.download.push_back(b);
    }
  }
  for (size_t b = 0; b < nb; ++b)
    if (on_dev[b]) dev[b] = cl_ctx->alloc(static_cast<size_t>(buffers[b]->elems) * 4);
  for (auto& s : steps) {
    if (!s.on_device) continue;
    int64_t bytes = 0;
    for (int b : s.upload) bytes += buffers[static_cast<size_t>(b)]->elems * 4;
    for (int b : s.download) bytes += buffers[static_cast<size_t>(b)]->elems * 4;
    ops[static_cast<size_t>(s.op)].transfer_bytes = bytes;
    ops[static_cast<size_t>(s.op)].transfer_copies = static_cast<int>(s.upload.size() + s.download.size());
    Step* sp = &s;
    // Copies timed by the host clock: what the unit's thread spends on them (enqueue and event wait
    // included), so that op time minus copy time is the kernel's share.
    // An op without copies reports none: the clock reads alone came to 0.05-0.6 us an op, ~10 us of
    // phantom copies a run over ResNet-34's 55 device ops.
    s.fn = [this, sp](kernels::ThreadPool&) {
      const auto t0 = Clock::now();
      for (int b : sp->upload) cl_ctx->write(*dev[static_cast<size_t>(b)], ptr(b), static_cast<size_t>(buffers[static_cast<size_t>(b)]->elems) * 4);
      const auto t1 = Clock::now();
      sp->dev_fn();
      const auto t2 = Clock::now();
      for (int b : sp->download) cl_ctx->read(*dev[static_cast<size_t>(b)], ptr(b), static_cast<size_t>(buffers[static_cast<size_t>(b)]->elems) * 4);
      sp->transfer_ms = (sp->upload.empty() ? 0.0 : ms_since(t0, t1)) + (sp->download.empty() ? 0.0 : ms_since(t2, Clock::now()));
    };
  }
}

void Executor::Impl::run_steps(const std::vector<int>& list, kernels::ThreadPool& pool, uint64_t gen) {
  for (int k : list) {
    Step& s = steps[k];
    for (int b : s.wait) {
      Buffer& buf = *buffers[b];
      if (buf.ready.load(std::memory_order_acquire) != gen) {
        auto t0 = Clock::now();
        for (uint64_t v; (v = buf.ready.load(std::memory_order_acquire)) != gen;) buf.ready.wait(v, std::memory_order_acquire);
        wait_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      }
      crossings.fetch_add(1, std::memory_order_relaxed);
    }
    if (timing) {
      auto t0 = Clock::now();
      s.fn(pool);
      auto t1 = Clock::now();
      timing->op_start_ms[s.op] = ms_since(run_start, t0);
      timing->op_ms[s.op] = ms_since(t0, t1);
      if (s.on_device) timing->op_transfer_ms[s.op] = s.transfer_ms;
    } else {
      s.fn(pool);
    }
    if (units.size() > 1)
      for (int b : s.out)
        if (b >= 0 && buffers[b]->awaited) {
          buffers[b]->ready.store(gen, std::memory_order_release);
          buffers[b]->ready.notify_all();
        }
  }
}

void Executor::Impl::worker_loop(int u) {
  // The pool is created on the unit's own thread, so that thread is pinned with the pool's workers.
  workers[u]->pool = std::make_unique<kernels::ThreadPool>(std::max<int>(1, static_cast<int>(units[u].cpus.size())), units[u].cpus);
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen;
    {
      std::unique_lock<std::mutex> lk(mu);
      cv_go.wait(lk, [&] { return stopping || generation != seen; });
      if (stopping) return;
      gen = seen = generation;
    }
    run_steps(workers[u]->steps, *workers[u]->pool, gen);
    {
      std::lock_guard<std::mutex> lk(mu);
      if (--pending == 0) cv_done.notify_one();
    }
  }
}

Executor::Executor(const Graph& g, const ExecOptions& opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  impl_->g = g;
  impl_->units = opts.units;
  impl_->compile();
}

Executor::~Executor() = default;

TensorMap Executor::run(const TensorMap& inputs, RunTiming* timing) {
  Impl& im = *impl_;
  for (const auto& name : im.g.inputs()) {
    if (im.g.is_constant(name)) continue;
    auto it = inputs.find(name);
    if (it == inputs.end()) throw Error("input '" + name + "'", "was not given");
    const Impl::Buffer& b = *im.buffers[im.buffer_of.at(name)];
    if (it->second.shape != b.shape)
      throw Error("input '" + name + "'", "has shape " + graph::shape_str(it->second.shape) + ", the model expects " +
                                              graph::shape_str(b.shape));
    std::memcpy(im.ptr(im.buffer_of.at(name)), it->second.f32.data(), static_cast<size_t>(b.elems) * 4);
  }
  if (timing) {
    timing->op_ms.assign(im.ops.size(), 0);
    timing->op_start_ms.assign(im.ops.size(), 0);
    timing->op_transfer_ms.assign(im.ops.size(), 0);
  }
  im.timing = timing;
  im.crossings = 0;
  im.wait_ns = 0;
  im.run_start = Clock::now();
  if (im.units.size() == 1) {
    std::vector<int> all(im.steps.size());
    for (size_t k = 0; k < all.size(); ++k) all[k] = static_cast<int>(k);
    im.run_steps(all, *im.main_pool, 0);
  } else {
    std::unique_lock<std::mutex> lk(im.mu);
    im.pending = static_cast<int>(im.workers.size());
    ++im.generation;
    im.cv_go.notify_all();
    im.cv_done.wait(lk, [&] { return im.pending == 0; });
  }
  auto t_end = Clock::now();
  if (timing) {
    timing->total_ms = ms_since(im.run_start, t_end);
    timing->crossings = im.crossings.load();
    timing->wait_ms = static_cast<double>(im.wait_ns.load()) * 1e-6;
    timing->transfer_ms = 0;
    for (double t : timing->op_transfer_ms) timing->transfer_ms += t;
  }
  TensorMap out;
  for (const auto& name : im.g.outputs()) {
    auto it = im.buffer_of.find(name);
    if (it == im.buffer_of.end()) {
      if (const graph::Tensor* c = im.g.constant(name)) out[name] = *c;
      continue;
    }
    const Impl::Buffer& b = *im.buffers[it->second];
    graph::Tensor t;
    t.name = name;
    t.shape = b.shape;
    t.f32.assign(im.ptr(it->second), im.ptr(it->second) + b.elems);
    out[name] = std::move(t);
  }
  return out;
}

const std::vector<CompiledOp>& Executor::ops() const { return impl_->ops; }
const Graph& Executor::compiled_graph() const { return impl_->g; }
int64_t Executor::arena_bytes() const { return impl_->arena_bytes; }
int64_t Executor::peak_live_bytes() const { return impl_->peak_live; }
const std::vector<UnitDef>& Executor::units() const { return impl_->units; }

namespace {
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}
}  // namespace

Measurement measure(Executor& ex, const TensorMap& inputs, int warmup, int repeat, bool check_overhead) {
  Measurement m;
  m.warmup = warmup;
  m.repeat = std::max(1, repeat);
  for (int i = 0; i < warmup; ++i) ex.run(inputs);
  std::vector<std::vector<double>> per_op(ex.ops().size());
  std::vector<double> totals, waits, transfers;
  for (int r = 0; r < m.repeat; ++r) {
    RunTiming t;
    ex.run(inputs, &t);
    for (size_t i = 0; i < per_op.size(); ++i) per_op[i].push_back(t.op_ms[i]);
    totals.push_back(t.total_ms);
    waits.push_back(t.wait_ms);
    transfers.push_back(t.transfer_ms);
    m.crossings = t.crossings;
  }
  for (auto& v : per_op) m.op_ms_median.push_back(quantile(v, 0.5));
  m.ms_median = quantile(totals, 0.5);
  m.ms_p10 = quantile(totals, 0.1);
  m.ms_p90 = quantile(totals, 0.9);
  m.wait_ms_median = quantile(waits, 0.5);
  m.transfer_ms_median = quantile(transfers, 0.5);
  m.run_ms = std::move(totals);
  m.op_run_ms = std::move(per_op);
  if (check_overhead) {
    // The same number of runs without per-op clocks, interleaved so drift hits both alike.
    std::vector<double> plain, timed;
    for (int r = 0; r < m.repeat; ++r) {
      auto t0 = Clock::now();
      ex.run(inputs);
      plain.push_back(ms_since(t0, Clock::now()));
      RunTiming t;
      auto t1 = Clock::now();
      ex.run(inputs, &t);
      timed.push_back(ms_since(t1, Clock::now()));
    }
    double p = quantile(plain, 0.5), q = quantile(timed, 0.5);
    m.timing_overhead_pct = p > 0 ? 100.0 * (q - p) / p : 0;
  }
  return m;
}

}  // namespace hilsim::runtime
