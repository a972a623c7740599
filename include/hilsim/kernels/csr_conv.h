// Unstructured sparse 1x1 convolution (as XNNPACK's sparse inference): weights [f, c] in CSR, one row
// per output channel (values + int32 channel indices + row offsets). On NCHW activations every nonzero
// does out[f][pixels] += w * in[c][pixels] over a vector tile of pixels. Strided 1x1 convs read a
// gathered copy of the input.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> row_ptr;  // rows + 1
  std::vector<int32_t> col_idx;
  std::vector<float> values;
  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
};

// keep: one byte per weight of the [rows, cols] matrix (1 = nonzero kept).
CsrMatrix make_csr(int64_t rows, int64_t cols, const float* w, const std::vector<uint8_t>& keep);

// shape: kh = kw = 1, no padding, groups 1, any stride. Weights the mask prunes are ignored.
// weight_bytes() = values * 4 + indices * 4 + row offsets * 4 + bias.
std::unique_ptr<PreparedConv> prepare_csr_conv(const ConvShape& shape, const float* w_oihw,
                                               const float* bias_or_null, const Epilogue& ep,
                                               const std::vector<uint8_t>& keep, Isa isa = active_isa());

}  // namespace hilsim::kernels
