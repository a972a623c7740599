// Flags shared by several subcommands; defined once in common_flags.cc.
#pragma once

#include <gflags/gflags.h>

DECLARE_bool(json);
DECLARE_string(input_shape);
DECLARE_bool(allow_unknown);
DECLARE_int32(threads);

#include <string>

#include "hilsim/graph/graph.h"

namespace hilsim::cli {
// Loads MODEL (an ONNX path or zoo:NAME[@RES]) honouring --input-shape and --allow-unknown.
graph::Graph load_model_from_flags(const std::string& spec);
// The bundled profile measured on a machine of this one's kind: the kernels run a different code path
// (and so at a different speed) on AVX-512 and on AVX2-only CPUs, so each has its own profile.
std::string bundled_profile();
// Human-readable sizes for tables.
std::string human_count(double v);   // 1.23 G
std::string human_bytes(double v);   // 4.5 MiB
}  // namespace hilsim::cli
