#include "hilsim/codegen/library_builder.h"

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hilsim/util/error.h"

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

  std::string flags;
  for (const auto& f : tc.flags) flags += " " + f;
  const std::string cxx = shell_quote(tc.cxx);
  // Hidden by default: the library exports hilsim_model_* only. Static libstdc++/libgcc are not
  // needed: the generated code calls memcpy/memset/expf and nothing of the C++ runtime.
  std::vector<std::string> cmds = {
      cxx + " -std=c++17" + flags + " -fPIC -fvisibility=hidden -fno-exceptions -fno-rtti -Wa,-I. -c model.cc -o model.o",
      "rm -f libmodel.a && " + (tc.target == "aarch64" ? std::string("aarch64-linux-gnu-ar") : std::string("ar")) +
          " rcs libmodel.a model.o",
      cxx + " -shared -o libmodel.so model.o -lm",
  };
  if (bench) cmds.push_back(cxx + " -std=c++17 -O2 -o model_bench model_bench.cc libmodel.a -lm" +
                            std::string(tc.target == "aarch64" ? " -static" : ""));
  std::string script = "#!/bin/sh\n# Rebuilds the library from the generated sources (what `hilsim emit --lib` ran).\nset -e\ncd \"$(dirname \"$0\")\"\n";
  for (const auto& c : cmds) script += c + "\n";
  write_file(fs::path(dir) / "build.sh", script);
  r.files.push_back("build.sh");
  const auto t1 = Clock::now();
  r.generate_s = std::chrono::duration<double>(t1 - t0).count();
  if (tc.target == "aarch64" && !on_path("aarch64-linux-gnu-ar"))
    throw Error("--target aarch64", "the archiver 'aarch64-linux-gnu-ar' is not on PATH (Debian: binutils-aarch64-linux-gnu)");
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
