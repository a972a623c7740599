#include "hilsim/codegen/library_builder.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "hilsim/codegen/shipped_kernels.h"
#include "hilsim/util/error.h"
#include "hilsim/util/hash.h"

namespace hilsim::codegen {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int run_command(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw Error("command `" + cmd + "`", "cannot start");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    if (output) output->append(buf, n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

namespace {

bool on_path(const std::string& exe) {
  std::string out;
  return run_command("command -v " + shell_quote(exe), &out) == 0 && !out.empty();
}

std::string tail_lines(const std::string& s, int n) {
  size_t at = s.size();
  for (int i = 0; i <= n && at != std::string::npos && at > 0; ++i) at = s.rfind('\n', at - 1);
  std::string t = at == std::string::npos ? s : s.substr(at + 1);
  while (!t.empty() && t.back() == '\n') t.pop_back();
  for (auto& c : t)
    if (c == '\n') c = ' ';
  return t;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(p.string(), "cannot write (is the output directory writable?)");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!f) throw Error(p.string(), "write failed");
}

void write_file_mkdir(const fs::path& p, const std::string& text) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) throw Error(p.parent_path().string(), "cannot create the directory: " + ec.message());
  write_file(p, text);
}

// x86 micro-kernel files are compiled for a host build on an x86-64 host only.
bool host_is_x86() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

// Under the user's cache folder (hilsim::cache_root); empty when there is none.
fs::path kernel_cache_dir(const std::string& key) {
  const std::string base = cache_root();
  if (base.empty()) return {};
  const fs::path root = base;
  const uint64_t hash = fnv1a(key);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return {};
  return root / (std::string("kernels-") + hex);
}

}  // namespace

Toolchain find_toolchain(const std::string& target) {
  Toolchain tc;
  tc.target = target;
  // -O3 for the complete unrolling of the tile loops; host builds tune for this machine's ISA (the
  // library then needs a CPU like it), aarch64 builds for ARMv8-A with NEON, which every aarch64 has.
  if (target == "host") {
    const char* env = std::getenv("HILSIM_CXX");
    tc.cxx = env && *env ? env : "g++";
    tc.flags = {"-O3", "-march=native", "-fno-math-errno"};
  } else if (target == "aarch64") {
    const char* env = std::getenv("HILSIM_AARCH64_CXX");
    tc.cxx = env && *env ? env : "aarch64-linux-gnu-g++";
    tc.flags = {"-O3", "-fno-math-errno"};
  } else {
    throw Error("--target " + target, "unknown target: host or aarch64");
  }
  if (!on_path(tc.cxx))
    throw Error("--target " + target, "the compiler '" + tc.cxx + "' is not on PATH" +
                                          (target == "aarch64" ? " (Debian: apt-get install g++-aarch64-linux-gnu)" : ""));
  return tc;
}

BuildResult build_library(const GeneratedLibrary& lib, const Toolchain& tc, const std::string& dir, bool bench) {
  using Clock = std::chrono::steady_clock;
  BuildResult r;
  const auto t0 = Clock::now();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw Error(dir, "cannot create the output directory: " + ec.message());
  for (const auto& [name, text] : lib.files) {
    write_file(fs::path(dir) / name, text);
    r.files.push_back(name);
  }
  write_file(fs::path(dir) / "model_weights.bin", lib.weights);
  r.files.push_back("model_weights.bin");
  // Hidden visibility leaves the C++ runtime's unique inline statics (std::to_chars tables) exported;
  // the version script makes everything but the C interface local.
  write_file(fs::path(dir) / "model.map", "{\n  global: hilsim_model_*;\n  local: *;\n};\n");
  r.files.push_back("model.map");

  // The runtime's kernels, compiled in nearly as they are in hilsim itself (same files, the same per-file
  // ISA flags; the CPU is picked at run time), so the profile's figures describe the library. Not quite
  // the same: hilsim's Release build compiles these files at -O2, the library at -O3 (their per-op
  // times agree within this machine's noise; not measured on a quiet machine).
  // -Dhilsim=hilsim_emitted renames their namespace: a program that links both this library and hilsim
  // gets two distinct sets of symbols, and the shared library exports none of them (hidden visibility).
  const std::string ns = " -Dhilsim=hilsim_emitted";
  std::vector<std::string> objs;
  std::vector<std::string> kernel_cmds;
  const std::string cxx = shell_quote(tc.cxx);
  for (const auto& f : shipped_kernel_files()) {
    write_file_mkdir(fs::path(dir) / "kernels" / f.path, f.text);
    std::string isa;
    const bool x86 = shipped_x86_only(f.path, &isa);
    if (f.path.size() < 3 || f.path.compare(f.path.size() - 3, 3, ".cc") != 0) continue;
    if (x86 && tc.target != "host") continue;
    if (x86 && !host_is_x86()) continue;
    const std::string obj = "kernels/" + f.path.substr(0, f.path.size() - 3) + ".o";
    kernel_cmds.push_back(cxx + " -std=c++20 -O3 -DNDEBUG -fPIC -fvisibility=hidden -fvisibility-inlines-hidden" + ns +
                          (isa.empty() ? "" : " " + isa) + " -Ikernels/include -c kernels/" + f.path + " -o " + obj);
    objs.push_back(obj);
  }
  r.files.push_back("kernels/");
  std::string flags;
  for (const auto& f : tc.flags) flags += " " + f;
  std::string all_objs = " model.o";
  for (const auto& o : objs) all_objs += " " + o;
  // Hidden by default: the library exports hilsim_model_* only.
  std::vector<std::string> cmds = {
      cxx + " -std=c++20" + flags + ns + " -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -Ikernels/include -Wa,-I. -c model.cc -o model.o",
      "rm -f libmodel.a && " + (tc.target == "aarch64" ? std::string("aarch64-linux-gnu-ar") : std::string("ar")) +
          " rcs libmodel.a" + all_objs,
      cxx + " -shared -Wl,--version-script=model.map -o libmodel.so" + all_objs + " -pthread -lm",
  };
  if (bench) cmds.push_back(cxx + " -std=c++20 -O2 -o model_bench model_bench.cc libmodel.a -pthread -lm" +
                            std::string(tc.target == "aarch64" ? " -static" : ""));
  std::string script = "#!/bin/sh\n# Rebuilds the library from the generated sources (what `hilsim emit --lib` ran).\nset -e\ncd \"$(dirname \"$0\")\"\n";
  for (const auto& c : kernel_cmds) script += c + "\n";
  for (const auto& c : cmds) script += c + "\n";
  write_file(fs::path(dir) / "build.sh", script);
  r.files.push_back("build.sh");
  const auto t1 = Clock::now();
  r.generate_s = std::chrono::duration<double>(t1 - t0).count();
  if (tc.target == "aarch64" && !on_path("aarch64-linux-gnu-ar"))
    throw Error("--target aarch64", "the archiver 'aarch64-linux-gnu-ar' is not on PATH (Debian: binutils-aarch64-linux-gnu)");
  // The kernel objects depend only on the compiler, the commands and the shipped sources, not on the
  // model: they are kept in a cache and reused by later emits (a missing or unwritable cache only costs
  // the compile).
  std::string key = tc.cxx + "\n" + tc.target + "\n";
  run_command(cxx + " -dumpfullversion -dumpmachine", &key);
  for (const auto& c : kernel_cmds) key += c + "\n";
  for (const auto& f : shipped_kernel_files()) key += f.path + "\n" + f.text;
  const fs::path cached = kernel_cache_dir(key);
  bool hit = !cached.empty();
  for (const auto& o : objs) {
    std::error_code cec;
    hit = hit && fs::exists(cached / o, cec);
  }
  if (hit) {
    for (const auto& o : objs) {
      std::error_code cec;
      fs::copy_file(cached / o, fs::path(dir) / o, fs::copy_options::overwrite_existing, cec);
      if (cec) hit = false;
    }
  }
  if (hit) kernel_cmds.clear();
  r.kernels_cached = hit;
  // The kernel objects are independent: as many compilers at a time as there are cores.
  const size_t jobs = std::max(1u, std::thread::hardware_concurrency());
  for (size_t at = 0; at < kernel_cmds.size(); at += jobs) {
    std::vector<std::pair<std::string, FILE*>> running;
    for (size_t k = at; k < std::min(kernel_cmds.size(), at + jobs); ++k) {
      const std::string c = "cd " + shell_quote(dir) + " && " + kernel_cmds[k] + " 2>&1";
      FILE* p = popen(c.c_str(), "r");
      running.push_back({kernel_cmds[k], p});
    }
    std::string failed;
    for (auto& [c, p] : running)
      if (!p && failed.empty()) failed = "`" + c + "` cannot start";
    for (auto& [c, p] : running) {
      if (!p) continue;
      std::string out;
      char b[4096];
      size_t n;
      while ((n = fread(b, 1, sizeof b, p)) > 0) out.append(b, n);
      const int st = pclose(p);
      if ((!WIFEXITED(st) || WEXITSTATUS(st) != 0) && failed.empty())
        failed = "`" + c + "` failed: " + tail_lines(out, 4);
    }
    if (!failed.empty()) throw Error("compiling " + dir, failed);
  }
  if (!hit && !cached.empty() && !kernel_cmds.empty()) {
    // Filled in a private directory, then renamed: a concurrent emit sees all objects or none.
    std::error_code cec;
    const fs::path tmp = cached.string() + ".tmp" + std::to_string(::getpid());
    for (const auto& o : objs) {
      fs::create_directories((tmp / o).parent_path(), cec);
      if (!cec) fs::copy_file(fs::path(dir) / o, tmp / o, fs::copy_options::overwrite_existing, cec);
      if (cec) break;
    }
    if (!cec) fs::rename(tmp, cached, cec);
    if (cec) fs::remove_all(tmp, cec);
  }
  for (const auto& c : cmds) {
    std::string out;
    if (run_command("cd " + shell_quote(dir) + " && " + c, &out) != 0)
      throw Error("compiling " + dir, "`" + c + "` failed: " + tail_lines(out, 4));
  }
  r.compile_s = std::chrono::duration<double>(Clock::now() - t1).count();
  for (const char* f : {"model.o", "libmodel.a", "libmodel.so"}) r.files.push_back(f);
  if (bench) r.files.push_back("model_bench");
  return r;
}

}  // namespace hilsim::codegen
