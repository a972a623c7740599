// Writes a generated library into a directory and compiles it with the host compiler or, for
// --target aarch64, Debian's aarch64-linux-gnu-g++: libmodel.a, libmodel.so and model_bench. The
// commands are also written to DIR/build.sh, so the directory rebuilds without hilsim.
#pragma once

#include <string>
#include <vector>

#include "hilsim/codegen/library_generator.h"

namespace hilsim::codegen {

struct Toolchain {
  std::string target = "host";  // host | aarch64
  std::string cxx;              // the compiler found on PATH
  std::vector<std::string> flags;
};

// The compiler for a target; throws Error naming the target and the missing compiler.
// HILSIM_CXX / HILSIM_AARCH64_CXX override the compiler's name.
Toolchain find_toolchain(const std::string& target);

struct BuildResult {
  double generate_s = 0, compile_s = 0;
  bool kernels_cached = false;  // the runtime kernels' objects came from the cache (only model.cc compiled)
  std::vector<std::string> files;  // written and built, under the directory
};

// Writes the sources and the weights blob into `dir` (created; an unwritable one is an Error naming
// it), then compiles: model.cc and the runtime kernels shipped under DIR/kernels/ (their objects are
// cached across emits under HILSIM_CACHE_DIR, $XDG_CACHE_HOME/hilsim or ~/.cache/hilsim). `bench`: also link model_bench. Throws Error with the compiler's last lines.
BuildResult build_library(const GeneratedLibrary& lib, const Toolchain& tc, const std::string& dir, bool bench = true);

// Runs a shell command, returns its exit status and its merged stdout/stderr.
int run_command(const std::string& cmd, std::string* output);

// Quotes a path for the shell.
std::string shell_quote(const std::string& s);

}  // namespace hilsim::codegen
