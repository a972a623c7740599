// Data-movement kernels of exported graphs on fp32 tensors of any rank (<= 8): transpose, slice with
// steps, split and pad. Each is a strided copy into a contiguous output; dims that stay contiguous
// are merged first so the common cases (channel split, ShuffleNet's channel shuffle, NCHW pads) run
// as long memcpy runs, and a transpose that moves the innermost dim goes through cache-sized tiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hilsim/kernels/thread_pool.h"

namespace hilsim::kernels {

// out[i] = in[base + sum_d idx_d(i) * in_strides[d]] over the row-major index of `out_shape`.
// Strides may be negative (reverse slices). Precomputed once by the make_* helpers below.
struct StridedCopy {
  std::vector<int64_t> out_shape;   // merged, outermost first (at least one dim)
  std::vector<int64_t> in_strides;  // elements, one per out dim
  int64_t base = 0;
  int64_t out_numel() const;
};

// Merges adjacent dims that are contiguous in the input too and drops size-1 dims.
StridedCopy make_strided_copy(const std::vector<int64_t>& out_shape, const std::vector<int64_t>& in_strides, int64_t base);
// Transpose of `in_shape` by `perm` (ONNX: out dim d is in dim perm[d]; empty perm reverses).
StridedCopy make_transpose(const std::vector<int64_t>& in_shape, std::vector<int64_t> perm);
// Slice with per-dim start (already clamped as ONNX does) and step; out_shape from the caller.
StridedCopy make_slice(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& starts,
                       const std::vector<int64_t>& steps, const std::vector<int64_t>& out_shape);

void strided_copy(const StridedCopy& c, const float* in, float* out, ThreadPool& pool);
// The inner loops strided_copy starts: one per cache-sized tile of a transpose that moves the input's
// unit-stride dim, else one per contiguous row piece (a memcpy, or a gather when the innermost stride
// is not 1). A cost model's feature, kept beside the kernel: YOLO's head split of [.., 85] rows into
// runs of 2, 2 and 81 floats ran at a quarter of a plain copy's speed.
int64_t strided_copy_loops(const StridedCopy& c);

enum class PadMode { kConstant, kReflect, kEdge };
PadMode pad_mode_of(const std::string& onnx_mode);  // throws on anything else
// Pads (or, with negative pads, crops) `in_shape` by pads = [lo_0..lo_r-1, hi_0..hi_r-1] (ONNX order).
struct PadShape {
  std::vector<int64_t> in_shape, pads;
  PadMode mode = PadMode::kConstant;
  float value = 0.0f;
  std::vector<int64_t> out_shape() const;
  void validate() const;  // throws hilsim::Error naming the bad field
};
void pad(const PadShape& s, const float* in, float* out, ThreadPool& pool);

}  // namespace hilsim::kernels
