#include "hilsim/codegen/library_emitter.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/partition/planner.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/reference_executor.h"
#include "hilsim/util/error.h"

namespace hilsim::codegen {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kManifestVersion = 1;
constexpr int kTuningLogVersion = 1;

#if defined(__x86_64__)
constexpr const char* kHostArch = "x86_64";
#elif defined(__aarch64__)
constexpr const char* kHostArch = "aarch64";
#else
constexpr const char* kHostArch = "other";
#endif

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path, "cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// A dlopen'ed library, closed on scope exit.
struct Library {
  void* handle = nullptr;
  std::string path;
  explicit Library(const std::string& p) : path(p) {
    handle = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = dlerror();
      throw Error(p, std::string("cannot load: ") + (e ? e : "dlopen failed"));
    }
  }
  ~Library() {
    if (handle) dlclose(handle);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  template <class F>
  F sym(const char* name) const {
    void* s = dlsym(handle, name);
    if (!s) throw Error(path, std::string("has no symbol ") + name);
    return reinterpret_cast<F>(s);
  }
};

using RunFn = int (*)(const float*, float*, void*);
using SizeFn = long long (*)();

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
std::unique_ptr<void, FreeDeleter> workspace(int64_t bytes) {
  void* p = std::aligned_alloc(64, static_cast<size_t>((std::max<int64_t>(bytes, 64) + 63) / 64 * 64));
  if (!p) throw Error("workspace", "cannot allocate " + std::to_string(bytes) + " bytes");
  return std::unique_ptr<void, FreeDeleter>(p);
}

// What a conv's tuning log entry is valid for: its shape and storage (a re-plan changes it).
std::string tuning_key(const graph::Graph& g, const GeneratedOp& o) {
  const graph::Op& op = g.op(*g.find_op(o.op));
  return runtime::conv_shape_of(g, op).str() + (o.row_height_free ? "_dense" : "_fb" + std::to_string(o.packed_fb));
}

std::optional<ConvVariant> variant_from(const std::string& s) {
  if (s == ConvVariant::runtime_kernel().str()) return ConvVariant::runtime_kernel();
  ConvVariant v;
  if (std::sscanf(s.c_str(), "fb%d_nv%d_b%d", &v.fb, &v.nv, &v.block_tiles) != 3 || v.str() != s) return std::nullopt;
  return v;
}

// Times the candidate variants of the convs (largest first) within the budget, in a harness that
// holds every variant of every conv, compiled once; the best of three timed runs per variant wins
// (on a shared machine a neighbour only ever adds time).
std::map<std::string, ConvVariant> tune(const partition::EmitResult& e, const GeneratedLibrary& plain,
                                        const std::string& dir, const Toolchain& tc, double budget_s,
                                        const std::map<std::string, ConvVariant>& fixed, json* log_layers,
                                        int* tuned) {
  std::map<std::string, ConvVariant> chosen;
  const GeneratedLibrary h = generate_library(e.pruned, e.packed, {}, true);
  const std::string hdir = (fs::path(dir) / "tuning_harness").string();
  build_library(h, tc, hdir, false);
  Library lib((fs::path(hdir) / "libmodel.so").string());
  auto run = lib.sym<RunFn>("hilsim_model_run");
  auto tune_run = lib.sym<int (*)(int, int, const float*, float*, void*)>("hilsim_model_tune_run");
  auto variants = lib.sym<int (*)(int)>("hilsim_model_tune_variants");
  auto ws = workspace(h.workspace_bytes);
  std::vector<float> in(static_cast<size_t>(h.input_elems), 0.5f), out(static_cast<size_t>(std::max<int64_t>(h.output_elems, 1)));
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 255) / 128.0f - 1.0f;
  run(in.data(), out.data(), ws.get());
  // The budget is for timing: building the harness is reported in tune_s, not charged to it.
  const auto t0 = Clock::now();
  std::vector<std::pair<int64_t, int>> convs;  // (executed MACs, conv index)
  int ci = 0;
  for (const auto& o : plain.ops)
    if (o.conv) convs.push_back({o.macs_executed, ci++});
  std::vector<const GeneratedOp*> conv_ops;
  for (const auto& o : plain.ops)
    if (o.conv) conv_ops.push_back(&o);
  std::sort(convs.begin(), convs.end(), [](auto a, auto b) { return a.first > b.first; });
  for (const auto& [macs, c] : convs) {
    const GeneratedOp& op = *conv_ops[static_cast<size_t>(c)];
    if (fixed.count(op.op)) continue;
    if (secs(t0) > budget_s) break;
    const auto cands = conv_variants(op.row_height_free, op.packed_fb);
    if (static_cast<int>(cands.size()) != variants(c)) throw Error(hdir, "the tuning harness disagrees with its generator");
    double best = 1e300;
    size_t best_k = 0;
    json times = json::object();
    for (size_t k = 0; k < cands.size(); ++k) {
      double t_best = 1e300;
      for (int rep = 0; rep < 4; ++rep) {
        const auto a = Clock::now();
        tune_run(c, static_cast<int>(k), in.data(), out.data(), ws.get());
        if (rep > 0) t_best = std::min(t_best, secs(a) * 1e3);
      }
      times[cands[k].str()] = t_best;
      if (t_best < best) best = t_best, best_k = k;
    }
    chosen[op.op] = cands[best_k];
    (*log_layers)[op.op] = {{"key", tuning_key(e.pruned, op)}, {"variant", cands[best_k].str()}, {"ms", best},
                            {"candidates_ms", times}};
    ++*tuned;
  }
  std::error_code ec;
  fs::remove_all(hdir, ec);
  return chosen;
}

// The library's predicted time: the plan's own prediction, or the plan re-predicted with `profile` at
// the run's threads; convs on a tuned generated variant take the tuner's time where it applies.
void predict_library(const graph::Graph& g, const partition::Plan& plan, const json& manifest,
                     const model::Profile* profile, LibraryValidation* v) {
  std::map<std::string, double> tuned;  // op -> tuner's ms; NaN when the log gave none
  for (const auto& op : manifest.value("ops", json::array())) {
    if (!op.is_object() || op.value("variant", "runtime") == "runtime") continue;
    const json t = op.value("tuned_ms", json());
    tuned[op.value("op", "")] = t.is_number() ? t.get<double>() : std::nan("");
  }
  if (!profile) {
    v->predicted_from = "plan";
    v->predicted_ms = plan.predicted.ms;
    for (const auto& [op, ms] : tuned) v->undescribed_ops.push_back(op);
    return;
  }
  costmodel::PredictorOptions po;
  po.threads = v->threads;
  costmodel::Predictor pred(g, *profile, po);
  // The library runs every op in order on its own threads: a split plan's units do not apply to it.
  runtime::SparsitySpec spec = plan.spec();
  if (spec.all) spec.all->unit.clear();
  for (auto& [op, ls] : spec.layers) ls.unit.clear();
  const costmodel::Prediction p = pred.predict(spec);
  v->predicted_from = "profile";
  v->predicted_ms = p.sum_ms;
  for (const auto& [op, ms] : tuned) {
    auto it = std::find_if(p.ops.begin(), p.ops.end(), [&](const costmodel::OpPrediction& o) { return o.name == op; });
    if (v->threads == 1 && std::isfinite(ms) && it != p.ops.end()) {
      v->predicted_ms += ms - it->ms;
      v->tuned_ms += ms;
      v->tuned_ops.push_back(op);
    } else {
      v->undescribed_ops.push_back(op);
    }
  }
}

}  // namespace

LibraryEmit emit_library(const partition::EmitResult& e, const std::string& dir, const LibraryOptions& o) {
  LibraryEmit r;
  const Toolchain tc = find_toolchain(o.target);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw Error("--out " + dir, "cannot create the output directory: " + ec.message());
  {
    const fs::path probe = fs::path(dir) / ".write_probe";
    std::ofstream f(probe);
    if (!f) throw Error("--out " + dir, "the output directory is not writable");
    f.close();
    fs::remove(probe, ec);
  }
  if (o.tune_budget_s > 0 && o.target != "host")
    throw Error("--tune-budget-s", "tuning times the variants on this machine; it is supported for --target host only "
                                   "(tune on the device with a host build there, then reuse its tuning log)");
  const auto t0 = Clock::now();

  // Choices from the tuning log that still fit (same op, same shape and storage) are reused.
  const std::string log_path = o.tuning_log.empty() ? (fs::path(dir) / "tuning_log.json").string() : o.tuning_log;
  json log = {{"version", kTuningLogVersion}, {"target", o.target}, {"layers", json::object()}};
  GeneratedLibrary plain = generate_library(e.pruned, e.packed, {});
  std::map<std::string, ConvVariant> variants;
  if (fs::exists(log_path)) {
    json old;
    try {
      old = json::parse(read_text(log_path));
    } catch (const json::exception& x) {
      throw Error(log_path, std::string("is not a tuning log: ") + x.what());
    }
    if (!old.is_object() || old.value("version", 0) != kTuningLogVersion || !old.contains("layers") ||
        !old["layers"].is_object())
      throw Error(log_path, "is not a version-" + std::to_string(kTuningLogVersion) + " tuning log (field 'version' or 'layers')");
    if (old.value("target", "") == o.target) {
      for (const auto& op : plain.ops) {
        if (!op.conv || !old["layers"].contains(op.op)) continue;
        const json& l = old["layers"][op.op];
        if (!l.is_object() || l.value("key", "") != tuning_key(e.pruned, op)) continue;
        auto v = variant_from(l.value("variant", ""));
        if (!v) throw Error(log_path, "layers." + op.op + ".variant: not a variant name");
        const auto cands = conv_variants(op.row_height_free, op.packed_fb);
        if (std::find(cands.begin(), cands.end(), *v) == cands.end()) continue;
        variants[op.op] = *v;
        log["layers"][op.op] = l;
        ++r.reused_layers;
      }
    }
  }
  if (o.tune_budget_s > 0) {
    const auto tt = Clock::now();
    json tuned_layers = json::object();
    for (const auto& [op, v] : tune(e, plain, dir, tc, o.tune_budget_s, variants, &tuned_layers, &r.tuned_layers))
      variants[op] = v;
    for (auto it = tuned_layers.begin(); it != tuned_layers.end(); ++it) log["layers"][it.key()] = it.value();
    r.tune_s = secs(tt);
  }
  r.lib = variants.empty() ? std::move(plain) : generate_library(e.pruned, e.packed, variants);
  const double gen_s = secs(t0) - r.tune_s;
  r.build = build_library(r.lib, tc, dir, true);
  r.build.generate_s += gen_s;
  if (!log["layers"].empty()) {
    std::ofstream f(log_path);
    if (!f) throw Error(log_path, "cannot write the tuning log");
    f << log.dump(1) << "\n";
  }

  json m = {{"version", kManifestVersion},
            {"target", o.target},
            {"arch", o.target == "host" ? kHostArch : "aarch64"},
            {"compiler", tc.cxx},
            {"flags", tc.flags},
            {"fingerprint", e.packed.fingerprint},
            {"input", {{"name", r.lib.input_name}, {"shape", r.lib.input_shape}}},
            {"input_elems", r.lib.input_elems},
            {"output_elems", r.lib.output_elems},
            {"workspace_bytes", r.lib.workspace_bytes},
            {"arena_bytes", r.lib.arena_bytes},
            {"weights_bytes", r.lib.weights.size()},
            {"generate_s", r.build.generate_s},
            {"compile_s", r.build.compile_s},
            {"kernels_cached", r.build.kernels_cached},
            {"tune_s", r.tune_s},
            {"tuned_layers", r.tuned_layers},
            {"reused_layers", r.reused_layers}};
  json outs = json::array();
  for (const auto& out : r.lib.outputs) outs.push_back({{"name", out.name}, {"shape", out.shape}, {"offset", out.offset}});
  m["outputs"] = outs;
  json ops = json::array();
  for (const auto& op : r.lib.ops) {
    json j = {{"op", op.op}, {"type", op.type}, {"kernel", op.kernel}};
    if (op.conv) j["variant"] = op.variant.str(), j["executed_macs"] = op.macs_executed;
    // A generated variant's time is the tuner's measurement (1 thread): the profile has none for it.
    if (op.conv && !op.variant.runtime() && log["layers"].contains(op.op) && log["layers"][op.op].contains("ms"))
      j["tuned_ms"] = log["layers"][op.op]["ms"];
    ops.push_back(j);
  }
  m["ops"] = ops;
  std::ofstream f(fs::path(dir) / "library.json");
  if (!f) throw Error(dir + "/library.json", "cannot write");
  f << m.dump(1) << "\n";
  r.build.files.push_back("library.json");
  return r;
}

bool has_library(const std::string& dir) { return fs::exists(fs::path(dir) / "library.json"); }

LibraryValidation validate_library(const std::string& dir, int repeat, int threads, const model::Profile* profile) {
  LibraryValidation v;
  v.threads = threads;
  const std::string mpath = (fs::path(dir) / "library.json").string();
  json m;
  try {
    m = json::parse(read_text(mpath));
  } catch (const json::exception& x) {
    throw Error(mpath, std::string("is not JSON: ") + x.what());
  }
  if (!m.is_object() || m.value("version", 0) != kManifestVersion)
    throw Error(mpath, "field 'version': expected " + std::to_string(kManifestVersion));
  for (const char* k : {"target", "arch", "fingerprint", "input", "outputs", "input_elems", "output_elems", "workspace_bytes"})
    if (!m.contains(k)) throw Error(mpath, std::string("missing field '") + k + "'");
  v.target = m["target"].get<std::string>();
  const partition::Plan plan = partition::load_plan((fs::path(dir) / "plan.json").string());
  graph::Graph g = graph::import_onnx((fs::path(dir) / "model.onnx").string());
  {
    graph::Graph cg = g;
    graph::passes::canonicalize(cg);
    if (partition::model_fingerprint(cg) != m["fingerprint"].get<std::string>() || plan.fingerprint != m["fingerprint"])
      throw Error(dir, "library.json, model.onnx and plan.json do not belong together (fingerprints differ)");
  }
  const runtime::TensorMap in = runtime::random_inputs(g, 5);
  const runtime::TensorMap want = runtime::run_reference(g, in);
  const std::string in_name = m["input"].value("name", "");
  auto it = in.find(in_name);
  if (it == in.end()) throw Error(mpath, "field 'input.name': the model has no input '" + in_name + "'");
  const std::vector<float>& x = it->second.f32;
  const int64_t in_elems = m["input_elems"].get<int64_t>(), out_elems = m["output_elems"].get<int64_t>();
  if (static_cast<int64_t>(x.size()) != in_elems)
    throw Error(mpath, "field 'input_elems' disagrees with the model's input " + graph::shape_str(it->second.shape));
  std::vector<float> y(static_cast<size_t>(std::max<int64_t>(out_elems, 1)));

  const std::string arch = m["arch"].get<std::string>();
  if (arch == kHostArch) {
    Library lib((fs::path(dir) / "libmodel.so").string());
    auto run = lib.sym<RunFn>("hilsim_model_run");
    if (lib.sym<SizeFn>("hilsim_model_input_elems")() != in_elems ||
        lib.sym<SizeFn>("hilsim_model_output_elems")() != out_elems)
      throw Error(lib.path, "its sizes disagree with library.json");
    auto ws = workspace(lib.sym<SizeFn>("hilsim_model_workspace_bytes")());
    if (void* st = dlsym(lib.handle, "hilsim_model_set_threads")) {
      if (reinterpret_cast<int (*)(int)>(st)(threads) != 0) throw Error(lib.path, "refuses " + std::to_string(threads) + " threads");
    } else if (threads != 1) {
      throw Error(lib.path, "runs on one thread only (emitted before hilsim_model_set_threads): emit it again");
    }
    // 64-byte aligned copies, as model.h advises and as the executor's tensors are: a misaligned output
    // splits every vector store of the last convs across two cache lines.
    auto in_buf = workspace(in_elems * 4), out_buf = workspace(static_cast<int64_t>(y.size()) * 4);
    float* xa = static_cast<float*>(in_buf.get());
    float* ya = static_cast<float*>(out_buf.get());
    std::copy(x.begin(), x.end(), xa);
    if (run(xa, ya, ws.get()) != 0) throw Error(lib.path, "hilsim_model_run failed");
    v.artefact = "libmodel.so (dlopen)";
    std::vector<double> ms;
    for (int r = 0; r < 3 + std::max(1, repeat); ++r) {
      const auto a = Clock::now();
      run(xa, ya, ws.get());
      if (r >= 3) ms.push_back(secs(a) * 1e3);
    }
    std::sort(ms.begin(), ms.end());
    v.timed = true;
    v.measured_p10 = ms[ms.size() / 10];
    v.measured_ms = ms[ms.size() / 2];
    v.measured_p90 = ms[ms.size() * 9 / 10];
    // The timing runs overwrote the output with the same input's outputs; run once more to be sure of them.
    run(xa, ya, ws.get());
    std::copy(ya, ya + y.size(), y.begin());
  } else if (arch == "aarch64") {
    const char* qenv = std::getenv("HILSIM_QEMU_AARCH64");
    const std::string qemu = qenv && *qenv ? qenv : "qemu-aarch64";
    std::string out;
    if (run_command("command -v " + shell_quote(qemu), &out) != 0)
      throw Error(dir, "is an aarch64 library: checking it here needs '" + qemu + "' on PATH (Debian: qemu-user)");
    const std::string inp = (fs::path(dir) / "validate_input.bin").string(), outp = (fs::path(dir) / "validate_output.bin").string();
    {
      std::ofstream f(inp, std::ios::binary);
      if (!f) throw Error(inp, "cannot write");
      f.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * 4));
    }
    const std::string cmd = shell_quote(qemu) + " -L /usr/aarch64-linux-gnu " + shell_quote((fs::path(dir) / "model_bench").string()) +
                            " --threads " + std::to_string(threads) + " --input " + shell_quote(inp) + " --output " +
                            shell_quote(outp);
    out.clear();
    if (run_command(cmd, &out) != 0) throw Error(dir, "model_bench under " + qemu + " failed: " + out);
    std::ifstream f(outp, std::ios::binary);
    if (!f || !f.read(reinterpret_cast<char*>(y.data()), static_cast<std::streamsize>(out_elems * 4)))
      throw Error(outp, "the emulated run wrote no complete output");
    std::error_code ec;
    fs::remove(inp, ec);
    fs::remove(outp, ec);
    v.artefact = "model_bench (" + qemu + ", numerics only: emulated time says nothing of the device)";
  } else {
    throw Error(mpath, "field 'arch': a library for " + arch + " cannot be checked on this " + kHostArch + " machine");
  }

  for (const auto& o : m["outputs"]) {
    const std::string name = o.value("name", "");
    auto w = want.find(name);
    if (w == want.end()) throw Error(mpath, "output '" + name + "' is not an output of model.onnx");
    const int64_t off = o.value("offset", int64_t{0}), n = static_cast<int64_t>(w->second.f32.size());
    if (off < 0 || off + n > out_elems) throw Error(mpath, "output '" + name + "' lies outside the output buffer");
    graph::Tensor got = w->second;
    std::copy(y.begin() + off, y.begin() + off + n, got.f32.begin());
    for (int64_t i = 0; i < n; ++i)
      v.max_abs_err = std::max(v.max_abs_err, static_cast<double>(std::fabs(got.f32[static_cast<size_t>(i)] - w->second.f32[static_cast<size_t>(i)])));
    v.max_rel_err = std::max(v.max_rel_err, runtime::max_rel_error(got, w->second));
  }
  v.numerics_ok = v.max_rel_err <= 1e-4;
  v.target_ms = plan.target_ms;
  v.plan_threads = plan.threads;
  predict_library(g, plan, m, profile, &v);
  return v;
}

}  // namespace hilsim::codegen
