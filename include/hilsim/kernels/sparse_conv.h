// Sparse convolution on NCHW fp32 for every pruned format hilsim runs: block-punched (YOLObile; the
// unit is one kernel position of a bf x bc block, or one (channel, ky, kx) column of bf filters in
// the `block_col` variant), pattern-sparse 3x3 and 1x1 (R-TOSS), and unstructured CSR 1x1.
//
// One storage format serves them all: the filters are split into rows of `fb` filters (fb = bf for
// block formats, 1 for pattern and CSR); each row keeps the input columns (c, ky, kx) that any of its
// filters uses, and a dense fb x kept panel of their values. Rows are reordered longest first so
// threads stay balanced. The input is zero-padded once per call and split into stride phases, so for
// any stride and dilation a kept column reads a contiguous run of input pixels: the micro-kernel is a
// dense fb x T register tile fed by one vector load per kept column. The engine itself is in
// block_sparse_conv.h (prepare_kept_column_conv); this header is the format-neutral entry point.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

// The packed kept weights of a conv (groups must be 1).
struct SparseRows {
  int fb = 1;                       // filters per row
  int64_t f = 0, c = 0, kh = 1, kw = 1;
  std::vector<int64_t> row_begin;   // rows + 1 offsets into cols
  std::vector<int32_t> cols;        // kept input column (c * kh + ky) * kw + kx
  std::vector<float> values;        // per kept column, fb values (filters of the row; 0 past f)
  std::vector<int32_t> order;       // rows by decreasing kept length
  int64_t rows() const { return static_cast<int64_t>(row_begin.size()) - 1; }
  int64_t kept_weights = 0;         // nonzero-mask weights (what the kernel multiplies, per pixel)
  int64_t storage_bytes() const;    // values + indices + offsets
};

// keep: one byte per weight of w_oihw ([f, c, kh, kw]); a column is stored for a row when any of the
// row's filters keeps it (exact for block masks with fb = bf, and for fb = 1).
SparseRows pack_sparse_rows(const ConvShape& s, const float* w_oihw, const std::vector<uint8_t>& keep, int fb);

// `label` names the format in kernel_name(), e.g. "block_8x4", "pattern_2ep", "csr_1x1".
std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvShape& s, const float* w_oihw, const float* bias_or_null,
                                                  const Epilogue& ep, const std::vector<uint8_t>& keep, int fb,
                                                  const std::string& label, Isa isa = active_isa());

// From rows packed earlier (an emitted model's weights file); checks they fit the shape.
std::unique_ptr<PreparedConv> prepare_sparse_conv_from_rows(const ConvShape& s, SparseRows rows,
                                                            const float* bias_or_null, const Epilogue& ep,
                                                            const std::string& label, Isa isa = active_isa());

}  // namespace hilsim::kernels
