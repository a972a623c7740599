// `hilsim emit --lib` and `hilsim validate` of its output: the plan's pruned, packed model turned
// into a self-contained library (generated, optionally tuned, compiled), described by DIR/library.json;
// and the library checked — loaded with dlopen (host) or run under qemu-user (aarch64) — against the
// reference executor on DIR/model.onnx, and timed against the plan's prediction.
#pragma once

#include <string>
#include <vector>

#include "hilsim/codegen/library_builder.h"
#include "hilsim/codegen/library_generator.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/emitter.h"

namespace hilsim::codegen {

struct LibraryOptions {
  std::string target = "host";  // host | aarch64
  double tune_budget_s = 0;      // 0: no tuning (choices from the tuning log are still reused)
  std::string tuning_log;        // JSON file of per-layer choices; "" = DIR/tuning_log.json
};

struct LibraryEmit {
  GeneratedLibrary lib;
  BuildResult build;
  int tuned_layers = 0, reused_layers = 0;
  double tune_s = 0;
};

// Writes DIR/library.json next to the sources and binaries. `emitted` is partition::emit_model's
// result for the plan (the caller writes model.onnx, weights.hpk and plan.json with it).
LibraryEmit emit_library(const partition::EmitResult& emitted, const std::string& dir, const LibraryOptions& o);

struct LibraryValidation {
  std::string artefact;  // "libmodel.so (dlopen)" or "model_bench (qemu-aarch64)"
  std::string target;
  double max_abs_err = 0, max_rel_err = 0;
  bool numerics_ok = false;
  bool timed = false;  // false under emulation
  double measured_ms = 0, measured_p10 = 0, measured_p90 = 0;
  double predicted_ms = 0, target_ms = 0;
  int threads = 1;  // what the library ran on (hilsim_model_set_threads)
  // "plan": the plan's stored prediction (made for the plan's threads); "profile": the library's plan
  // re-predicted with the given profile at `threads`, every op on the one unit the library runs on.
  std::string predicted_from = "plan";
  int plan_threads = 1;
  // Convs that run a generated variant tuning chose: the profile describes the runtime's kernels only.
  // With a profile at 1 thread their predicted time is the tuner's measurement (tuned_ops); otherwise
  // they are listed as not described (their figure is the profile's for the runtime kernel).
  std::vector<std::string> tuned_ops, undescribed_ops;
  double tuned_ms = 0;  // the tuner's measurements summed into predicted_ms
};

// True when DIR holds an emitted library (DIR/library.json).
bool has_library(const std::string& dir);
// `profile`: re-predict the library's plan with it at `threads` (nullptr: the plan's own prediction).
// Throws Error naming the library when `threads` > 1 and it predates hilsim_model_set_threads.
LibraryValidation validate_library(const std::string& dir, int repeat, int threads = 1,
                                   const model::Profile* profile = nullptr);

}  // namespace hilsim::codegen
