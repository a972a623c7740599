#include "hilsim/graph/slice_range.h"

#include <algorithm>

namespace hilsim::graph {

SliceRange slice_range(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += dim;  // still negative: clamped below
  if (end < 0) end += dim;
  SliceRange r;
  if (step > 0) {
    r.start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    r.count = end > r.start ? (end - r.start + step - 1) / step : 0;
  } else {
    r.start = std::clamp<int64_t>(start, -1, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    r.count = r.start > end ? (r.start - end - step - 1) / (-step) : 0;
  }
  return r;
}

}  // namespace hilsim::graph
