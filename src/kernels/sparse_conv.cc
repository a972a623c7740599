#include "hilsim/kernels/sparse_conv.h"

#include <algorithm>
#include <numeric>

#include "hilsim/kernels/block_sparse_conv.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }


}  // namespace

int64_t SparseRows::storage_bytes() const {
  return static_cast<int64_t>(values.size() * sizeof(float) + cols.size() * sizeof(int32_t) +
                              row_begin.size() * sizeof(int32_t));
}

SparseRows pack_sparse_rows(const ConvShape& s, const float* w, const std::vector<uint8_t>& keep, int fb) {
  if (s.groups != 1) throw Error("sparse conv " + s.str(), "sparse formats need groups = 1");
  if (fb != 1 && fb != 2 && fb != 4 && fb != 8 && fb != 16)
    throw Error("sparse conv " + s.str(), "row height " + std::to_string(fb) + " is not 1, 2, 4, 8 or 16");
  const int64_t K = s.c * s.kh * s.kw;
  if (static_cast<int64_t>(keep.size()) != s.f * K)
    throw Error("sparse conv " + s.str(), "mask has " + std::to_string(keep.size()) + " entries for " +
                                             std::to_string(s.f * K) + " weights");
  SparseRows r;
  r.fb = fb;
  r.f = s.f;
  r.c = s.c;
  r.kh = s.kh;
  r.kw = s.kw;
  const int64_t nrows = ceil_div(s.f, fb);
  r.row_begin.push_back(0);
  for (int64_t row = 0; row < nrows; ++row) {
    const int64_t f0 = row * fb, fr = std::min<int64_t>(fb, s.f - f0);
    for (int64_t k = 0; k < K; ++k) {
      bool any = false;
      for (int64_t f = 0; f < fr && !any; ++f) any = keep[(f0 + f) * K + k] != 0;
      if (!any) continue;
      r.cols.push_back(static_cast<int32_t>(k));
      for (int64_t f = 0; f < fb; ++f) {
        const bool kept = f < fr && keep[(f0 + f) * K + k];
        r.values.push_back(kept ? w[(f0 + f) * K + k] : 0.0f);
        r.kept_weights += kept;
      }
    }
    r.row_begin.push_back(static_cast<int64_t>(r.cols.size()));
  }
  r.order.resize(static_cast<size_t>(nrows));
  std::iota(r.order.begin(), r.order.end(), 0);
  std::stable_sort(r.order.begin(), r.order.end(), [&](int32_t a, int32_t b) {
    return r.row_begin[a + 1] - r.row_begin[a] > r.row_begin[b + 1] - r.row_begin[b];
  });
  return r;
}

namespace {
// The kept-column engine (block_sparse_conv.h) runs every sparse format; SparseRows is its storage.
KeptColumnRows to_kept_columns(const SparseRows& r) {
  KeptColumnRows k;
  k.fb = r.fb;
  k.f = r.f, k.c = r.c, k.kh = r.kh, k.kw = r.kw;
  k.row_begin = r.row_begin;
  k.cols = r.cols;
  k.values = r.values;
  return k;
}
}  // namespace

std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvShape& s, const float* w, const float* bias,
                                                  const Epilogue& ep, const std::vector<uint8_t>& keep, int fb,
                                                  const std::string& label, Isa isa) {
  s.validate();
  return prepare_kept_column_conv(s, to_kept_columns(pack_sparse_rows(s, w, keep, std::min(fb, 16))), bias, ep, label,
                                  isa);
}

std::unique_ptr<PreparedConv> prepare_sparse_conv_from_rows(const ConvShape& s, SparseRows rows, const float* bias,
                                                            const Epilogue& ep, const std::string& label, Isa isa) {
  s.validate();
  const std::string where = "packed conv " + s.str();
  if (rows.f != s.f || rows.c != s.c || rows.kh != s.kh || rows.kw != s.kw || s.groups != 1)
    throw Error(where, "packed rows are for f" + std::to_string(rows.f) + " c" + std::to_string(rows.c) + " k" +
                           std::to_string(rows.kh) + "x" + std::to_string(rows.kw));
  if (rows.fb != 1 && rows.fb != 2 && rows.fb != 4 && rows.fb != 8 && rows.fb != 16) throw Error(where, "bad row height");
  const int64_t nrows = (s.f + rows.fb - 1) / rows.fb, K = s.c * s.kh * s.kw;
  if (rows.rows() != nrows || rows.row_begin.front() != 0 ||
      rows.row_begin.back() != static_cast<int64_t>(rows.cols.size()) ||
      rows.values.size() != rows.cols.size() * static_cast<size_t>(rows.fb) ||
      rows.order.size() != static_cast<size_t>(nrows))
    throw Error(where, "packed rows are inconsistent");
  for (size_t i = 1; i < rows.row_begin.size(); ++i)
    if (rows.row_begin[i] < rows.row_begin[i - 1]) throw Error(where, "packed row offsets decrease");
  for (int32_t c : rows.cols)
    if (c < 0 || c >= K) throw Error(where, "packed column index out of range");
  std::vector<char> seen(static_cast<size_t>(nrows), 0);
  for (int32_t r : rows.order) {
    if (r < 0 || r >= nrows || seen[r]) throw Error(where, "packed row order is not a permutation");
    seen[r] = 1;
  }
  return prepare_kept_column_conv(s, to_kept_columns(rows), bias, ep, label, isa);
}

}  // namespace hilsim::kernels
