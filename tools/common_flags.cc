#include "common_flags.h"

DEFINE_bool(json, false, "print one JSON object on stdout instead of tables");
DEFINE_string(input_shape, "",
              "fix dynamic input dims, e.g. 'images:1x3x320x320' or '1x3x224x224' for a single input; "
              "several inputs separated by ';'");
DEFINE_bool(allow_unknown, false,
            "treat ops hilsim does not know as memory-bound elementwise ops (and say so) instead of failing");
DEFINE_int32(threads, 1, "worker threads for kernels");
