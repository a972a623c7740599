// One arena for all activations: each tensor gets an offset, and tensors whose lifetimes overlap never
// share bytes. Lifetimes are [first step written, last step read] over the execution order; placement
// is greedy by size (largest first, lowest offset that fits), which is what TFLite's arena planner does
// and comes within a few percent of the peak of live bytes on CNNs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hilsim::runtime {

struct BufferRequest {
  std::string name;
  int64_t bytes = 0;
  int first = 0;  // step that writes it (-1: live from the start, e.g. graph inputs)
  int last = 0;   // last step that reads it (INT_MAX-like large value: graph outputs)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // per request, bytes, 64-byte aligned
  int64_t arena_bytes = 0;
  int64_t peak_live_bytes = 0;   // max over steps of the live bytes: the lower bound of any plan
};

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

// True if two requests are live at the same step and share a byte: what must never happen.
bool plan_has_conflict(const std::vector<BufferRequest>& requests, const MemoryPlan& plan);

}  // namespace hilsim::runtime
