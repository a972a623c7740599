// Flags shared by several subcommands; defined once in common_flags.cc.
#pragma once

#include <gflags/gflags.h>

DECLARE_bool(json);
DECLARE_string(input_shape);
DECLARE_bool(allow_unknown);
DECLARE_int32(threads);
