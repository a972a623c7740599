#include "hilsim/kernels/csr_conv.h"

#include <string>

#include "hilsim/kernels/block_sparse_conv.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

// The engine with rows of one filter is CSR; only the reported storage differs (int32 row offsets).
class CsrConv final : public PreparedConv {
 public:
  CsrConv(const ConvShape& s, std::unique_ptr<PreparedConv> inner) : PreparedConv(s), inner_(std::move(inner)) {}
  void run(const float* in, float* out, ThreadPool& pool) const override { inner_->run(in, out, pool); }
  std::string kernel_name() const override { return inner_->kernel_name(); }
  int64_t weight_bytes() const override {
    return inner_->weight_bytes() + static_cast<int64_t>(sizeof(int32_t)) * (shape_.f + 1);
  }
  int64_t executed_macs() const override { return inner_->executed_macs(); }

 private:
  std::unique_ptr<PreparedConv> inner_;
};

}  // namespace

CsrMatrix make_csr(int64_t rows, int64_t cols, const float* w, const std::vector<uint8_t>& keep) {
  if (static_cast<int64_t>(keep.size()) != rows * cols)
    throw Error("csr", "keep has " + std::to_string(keep.size()) + " entries, expected " + std::to_string(rows * cols));
  if (!w) throw Error("csr", "null weights");
  CsrMatrix m;
  m.rows = rows, m.cols = cols;
  m.row_ptr.push_back(0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      if (keep[static_cast<size_t>(r * cols + c)]) {
        m.col_idx.push_back(static_cast<int32_t>(c));
        m.values.push_back(w[r * cols + c]);
      }
    m.row_ptr.push_back(m.nnz());
  }
  return m;
}

std::unique_ptr<PreparedConv> prepare_csr_conv(const ConvShape& s, const float* w, const float* bias,
                                               const Epilogue& ep, const std::vector<uint8_t>& keep, Isa isa) {
  s.validate();
  const std::string where = "csr conv " + s.str();
  if (s.kh != 1 || s.kw != 1)
    throw Error(where, "CSR needs a 1x1 conv, got " + std::to_string(s.kh) + "x" + std::to_string(s.kw));
  if (s.pad_top || s.pad_left || s.pad_bottom || s.pad_right) throw Error(where, "CSR 1x1 conv takes no padding");
  if (s.groups != 1) throw Error(where, "sparse kernels need groups == 1");
  const CsrMatrix m = make_csr(s.f, s.c, w, keep);
  KeptColumnRows rows;
  rows.fb = 1, rows.f = s.f, rows.c = s.c, rows.kh = rows.kw = 1;
  rows.row_begin = m.row_ptr;
  rows.cols = m.col_idx;
  rows.values = m.values;
  auto inner = prepare_kept_column_conv(s, std::move(rows), bias, ep, "csr_conv1x1", isa);
  return std::make_unique<CsrConv>(s, std::move(inner));
}

}  // namespace hilsim::kernels
