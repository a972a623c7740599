// hilsim's OpenCL C kernels and their operators, one program for all of them (PoCL compiles a program
// in about a second, so one build, cached on disk, serves every kernel). Every conv fuses its bias and
// activation (the CPU Epilogue) into the store, as the CPU engine does.
//
// Convolutions are PreparedConv operators (describe -> prepare -> run, as on the CPU): run() copies
// the input to the device, runs and copies the output back; run_device() works on device buffers and
// returns the kernel's profiled time. The memory-bound ops take device buffers.
//
//   dense:     conv1x1_f{4,8}   1x1 stride-1 unpadded convs as a GEMM tiled FT filters x one pixel per
//                               work item (a work group spans pixels, so the weights are uniform and the
//                               pixels vectorise), conv_dense_f{4,8} the same tile over kxk windows
//                               (direct, any stride/dilation/groups); the *4 variants (conv1x1x4,
//                               conv_dense4) compute 4 pixels per item as explicit float4;
//   depthwise: conv_depthwise;
//   sparse:    conv_rows_fb{1,2,4,8,16} on the CPU engine's packed kept-column rows (block-punched
//              rows of fb filters, pattern and CSR as one-filter rows), conv_rows4_* with 4 pixels per
//              item when the stride along x is 1;
//   memory:    binary (same shape, per-channel, scalar), pool2d (max/avg), copy_block (concat),
//              resize_gather (nearest), resize_linear (bilinear), plane_mean (global average pool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/math_ops.h"
#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/opencl/cl_runtime.h"
#include "hilsim/kernels/sparse_conv.h"

namespace hilsim::kernels::opencl {

// The OpenCL C source of every kernel (the program cache keys on it).
const std::string& kernel_source();

// Times of one device conv: input copy, kernel, output copy (profiling events, ms).
struct ClTimes {
  double upload_ms = 0, kernel_ms = 0, download_ms = 0;
};

// How a conv kernel is launched: filters per work item (its tile height) and the work-group size along
// pixels (0: the driver chooses). Chosen per device and shape by tune_conv().
struct ClTile {
  int ft = 8;
  int local = 0;
  int px = 1;  // output pixels per work item: 1, or 4 as one float4 (stride 1 along x, or 1x1 GEMMs)
  std::string str() const {
    return "f" + std::to_string(ft) + "_l" + std::to_string(local) + (px == 1 ? "" : "_p" + std::to_string(px));
  }
};

class ClConv : public PreparedConv {
 public:
  // in/out on the host: copies in, runs, copies out (timed into last_times()).
  void run(const float* in, float* out, ThreadPool& pool) const override;
  // On device buffers; returns the kernel time in ms.
  virtual double run_device(const ClBuffer& in, const ClBuffer& out) const = 0;
  ClTimes last_times() const { return times_; }

 protected:
  explicit ClConv(const ConvShape& s) : PreparedConv(s) {}
  mutable ClTimes times_;
  mutable ClBufferPtr in_buf_, out_buf_;
};

// Whether a dense conv runs as conv1x1's GEMM (1x1, stride 1, unpadded, ungrouped) rather than the
// direct kernel: the lowering's own rule, which the cost model's gpu features ask too.
inline bool conv_runs_as_gemm(const ConvShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && !s.pad_top && !s.pad_left &&
         !s.pad_bottom && !s.pad_right && s.groups == 1;
}

// Dense (any groups) and depthwise convs. `tile` null: the tuned tile (tune_conv) for this device and
// shape. Throws hilsim::Error when OpenCL is unavailable.
std::unique_ptr<ClConv> prepare_cl_conv(const ConvShape& s, const float* w_oihw, const float* bias_or_null,
                                        const Epilogue& ep, const ClTile* tile = nullptr);
// The sparse engine's packed rows (rows.fb one of 1, 2, 4, 8, 16), e.g. from pack_sparse_rows.
std::unique_ptr<ClConv> prepare_cl_sparse_conv(const ConvDesc& d, const SparseRows& rows, const float* bias_or_null);

// The best tile of a dense conv on this device: a few candidates timed with profiling events, the
// choice cached per device in a JSON file beside the program cache. `from_cache` says whether it
// was read back rather than measured.
ClTile tune_conv(const ConvShape& s, bool* from_cache = nullptr);
// The tuning file of this device.
std::string tuning_file();

// Memory-bound ops on device buffers; each returns the kernel time in ms.
// b_mode: same shape as a (b has n values), per channel (b has `channels` values, a is [.., channels,
// inner]) or scalar (one value).
enum class ClBroadcast { kSame, kPerChannel, kScalar };
double cl_binary(BinaryOp op, const ClBuffer& a, const ClBuffer& b, ClBroadcast mode, int64_t n, int64_t channels,
                 int64_t inner, const ClBuffer& out, const Epilogue& ep = {});
double cl_pool2d(bool is_max, const Pool2dShape& s, const ClBuffer& in, const ClBuffer& out);
double cl_global_avg_pool(int64_t planes, int64_t size, const ClBuffer& in, const ClBuffer& out);
// dst[o * dst_inner + dst_offset + i] = src[o * src_inner + i] for o < outer, i < src_inner.
double cl_copy_block(const ClBuffer& src, const ClBuffer& dst, int64_t outer, int64_t src_inner, int64_t dst_inner,
                     int64_t dst_offset);
// Nearest: out[p, y, x] = in[p, iy[y], ix[x]] (the source index tables from the caller).
double cl_resize_gather(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w,
                        const std::vector<int32_t>& iy, const std::vector<int32_t>& ix, const ClBuffer& in,
                        const ClBuffer& out);
double cl_resize_linear(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const LinearTaps& ty,
                        const LinearTaps& tx, const ClBuffer& in, const ClBuffer& out);

// On the host: a device buffer holding `v`, and a device buffer's contents read back.
ClBufferPtr to_device(const std::vector<float>& v);
std::vector<float> from_device(const ClBuffer& b, size_t n);

}  // namespace hilsim::kernels::opencl
