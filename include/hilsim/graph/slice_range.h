// One axis of an ONNX Slice as the spec resolves it: negative indices count from the end, starts and
// ends past the dim (INT64_MAX for "to the end") clamp to its edges, and the step may be negative.
// Shape inference, the reference executor and the native slice kernel all read it from here.
#pragma once

#include <cstdint>

namespace hilsim::graph {

struct SliceRange {
  int64_t start = 0;  // first index read (may be -1 or dim when count is 0)
  int64_t count = 0;  // elements the axis keeps
};
// `step` must not be 0 (the callers name the node when it is).
SliceRange slice_range(int64_t dim, int64_t start, int64_t end, int64_t step);

}  // namespace hilsim::graph
