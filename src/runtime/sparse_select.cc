#include "hilsim/runtime/sparse_select.h"

#include <algorithm>

#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

FormatMask make_format_mask(const kernels::ConvShape& cs, const float* w, const LayerSparsity& ls) {
  FormatMask f;
  kernels::PruneMask m;
  switch (ls.format) {
    case Format::kBlock:
    case Format::kBlockCol:
      m = kernels::block_mask(cs, w, ls.bf, ls.bc, ls.ratio, ls.format == Format::kBlockCol);
      f.fb = std::min(ls.bf, 16);
      f.label = std::string(ls.format == Format::kBlock ? "block_" : "block_col_") + std::to_string(ls.bf) + "x" +
                std::to_string(ls.bc);
      break;
    case Format::kPattern:
      m = kernels::pattern_mask(cs, w, ls.entries);
      f.label = "pattern_" + std::to_string(ls.entries) + "ep";
      break;
    case Format::kCsr:
      m = kernels::magnitude_mask(cs, w, ls.ratio);
      f.label = "csr_1x1";
      break;
    case Format::kDense:
      m.keep.assign(static_cast<size_t>(cs.weight_count()), 1);
      f.label = "dense";
      break;
  }
  f.keep = std::move(m.keep);
  f.kept_saliency = m.kept_saliency;
  return f;
}

int detect_row_height(const kernels::ConvShape& cs, const std::vector<uint8_t>& keep) {
  const int64_t nnz = std::count(keep.begin(), keep.end(), 1);
  const int64_t total = static_cast<int64_t>(keep.size());
  // Below half zeros the dense kernel wins anyway.
  if (total == 0 || nnz * 2 > total) return 0;
  const int64_t K = cs.c * cs.kh * cs.kw;
  for (int fb : {16, 8, 4, 2, 1}) {
    int64_t stored = 0;
    for (int64_t f0 = 0; f0 < cs.f; f0 += fb)
      for (int64_t k = 0; k < K; ++k) {
        bool any = false;
        for (int64_t f = f0; f < std::min<int64_t>(cs.f, f0 + fb) && !any; ++f) any = keep[f * K + k];
        stored += any ? fb : 0;
      }
    // Accept a row height whose panel pads the kept weights by at most 25%.
    if (stored * 4 <= nnz * 5) return fb;
  }
  return 1;
}

SparseChoice choose_sparse_kernel(const graph::Graph& g, const graph::Op& op, const kernels::ConvShape& cs,
                                  const std::optional<LayerSparsity>& ls, bool explicit_layer, bool detect_structure,
                                  const kernels::Epilogue& ep) {
  SparseChoice r;
  const graph::Tensor* wt = g.constant(op.inputs.at(1));
  const graph::Tensor* bt = op.input(2) ? g.constant(*op.input(2)) : nullptr;
  const float* w = wt->f32.data();
  const float* bias = bt ? bt->f32.data() : nullptr;
  const std::string where = "node '" + op.name + "'";
  if (ls && ls->format != Format::kDense) {
    const std::string problem = format_problem(cs, *ls);
    if (!problem.empty()) {
      if (explicit_layer) throw Error(where, problem);
      return r;
    }
    const FormatMask fm = make_format_mask(cs, w, *ls);
    r.kernel = kernels::prepare_sparse_conv(cs, w, bias, ep, fm.keep, fm.fb, fm.label);
    kernels::PruneMask m;
    m.keep = fm.keep;
    m.kept_saliency = fm.kept_saliency;
    r.format = format_name(ls->format);
    r.kept_saliency = m.kept_saliency;
    r.pruned_weights = kernels::apply_mask(m, w, cs.weight_count());
    return r;
  }
  if (detect_structure && !ls && cs.groups == 1) {
    std::vector<uint8_t> keep(static_cast<size_t>(cs.weight_count()));
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = w[i] != 0.0f;
    const int fb = detect_row_height(cs, keep);
    if (fb > 0) {
      r.kernel = kernels::prepare_sparse_conv(cs, w, bias, ep, keep, fb, "detected_rows" + std::to_string(fb));
      r.format = "detected";
    }
  }
  return r;
}

}  // namespace hilsim::runtime
