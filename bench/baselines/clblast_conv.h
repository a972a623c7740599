// CLBlast as the GPU baseline, as oneDNN is for the CPU: a conv as CLBlast's im2col then its SGEMM, on
// the same OpenCL device, queue and buffers as hilsim's kernels. libclblast.so.1 is opened at run time
// (like the OpenCL loader), so the binary runs where CLBlast is absent and this baseline says so.
#pragma once

#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/opencl/cl_runtime.h"

namespace hilsim::bench {

// "" when CLBlast can run here, else why not.
std::string clblast_unavailable_reason();

class ClblastConv {
 public:
  // Weights OIHW; groups must be 1 and padding symmetric. No fused bias or activation (CLBlast has
  // none): the comparison favours the baseline by that pass.
  ClblastConv(const kernels::ConvShape& s, const float* w_oihw);
  // Runs im2col + GEMM from `in` into `out` (device buffers, NCHW, batch 1); blocking.
  void run(const kernels::opencl::ClBuffer& in, const kernels::opencl::ClBuffer& out);
  // CLBlast's im2col column order is read off its output once (see the .cc); the GEMM follows it.
  void set_columns_transposed(bool t) { cols_transposed_ = t; }

 private:
  kernels::ConvShape s_;
  std::shared_ptr<kernels::opencl::ClContext> ctx_;
  kernels::opencl::ClBufferPtr w_, col_;
  bool cols_transposed_ = false;
};

}  // namespace hilsim::bench
