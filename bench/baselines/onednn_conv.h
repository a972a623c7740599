// oneDNN baselines, measured in the same process as our kernels: fp32 convolution in the layout oneDNN
// prefers (format_tag::any: blocked nChw16c / OIhw16i16o on AVX-512), with the same bias + activation
// fused as post-ops, and a large matmul that measures the machine's peak GFLOP/s. Primitives are
// created and inputs reordered once, outside the timed run().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::bench {

// oneDNN here is built on OpenMP: set its thread count for primitives run from the calling thread.
// Returns false when the OpenMP runtime cannot be found (then oneDNN uses all cores).
bool set_onednn_threads(int threads);

class OnednnConv {
 public:
  OnednnConv(const kernels::ConvShape& s, const float* w_oihw, const float* bias_or_null, const kernels::Epilogue& ep);
  ~OnednnConv();
  void set_input_nchw(const float* in);  // reorders into oneDNN's layout (untimed)
  void run();                            // one execution, waits for completion
  std::vector<float> output_nchw() const;
  std::string impl_name() const;  // e.g. "brgconv:avx512_core"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class OnednnMatmul {
 public:
  OnednnMatmul(int64_t m, int64_t n, int64_t k);
  ~OnednnMatmul();
  void run();
  double flops() const { return 2.0 * static_cast<double>(m_) * static_cast<double>(n_) * static_cast<double>(k_); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t m_, n_, k_;
};

}  // namespace hilsim::bench
