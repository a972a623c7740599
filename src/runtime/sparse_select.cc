#include "hilsim/runtime/sparse_select.h"

#include <algorithm>

#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

kernels::SparseFormat sparse_format_of(const LayerSparsity& ls) {
  kernels::SparseFormat f;
  f.bf = ls.bf, f.bc = ls.bc, f.entries = ls.entries, f.ratio = ls.ratio;
  switch (ls.format) {
    case Format::kBlock: f.kind = kernels::SparseKind::kBlock; break;
    case Format::kBlockCol: f.kind = kernels::SparseKind::kBlockCol; break;
    case Format::kPattern: f.kind = kernels::SparseKind::kPattern; break;
    case Format::kCsr: f.kind = kernels::SparseKind::kCsr; break;
    case Format::kDense: throw Error("sparsity", "dense has no sparse format");
  }
  return f;
}

FormatMask make_format_mask(const kernels::ConvShape& cs, const float* w, const LayerSparsity& ls) {
  FormatMask f;
  if (ls.format == Format::kDense) {
    f.keep.assign(static_cast<size_t>(cs.weight_count()), 1);
    f.label = "dense";
    return f;
  }
  const kernels::SparseFormat sf = sparse_format_of(ls);
  kernels::PruneMask m = kernels::format_mask(cs, w, sf);
  f.fb = sf.row_height();
  f.label = sf.name();
  f.keep = std::move(m.keep);
  f.kept_saliency = m.kept_saliency;
  return f;
}

int detect_row_height(const kernels::ConvShape& cs, const std::vector<uint8_t>& keep) {
  const int64_t nnz = std::count(keep.begin(), keep.end(), 1);
  const int64_t total = static_cast<int64_t>(keep.size());
  // Below half zeros the dense kernel wins anyway.
  if (total == 0 || nnz * 2 > total) return 0;
  for (int fb : {16, 8, 4, 2, 1}) {
    // Values the packed rows would hold (fb per stored column): accept a row height whose panel pads
    // the kept weights by at most 25%.
    const int64_t stored = kernels::stored_columns(cs, keep, fb) * fb;
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
    kernels::ConvDesc d{cs, ep, sparse_format_of(*ls)};
    r.rows = std::make_shared<const kernels::SparseRows>(kernels::pack_sparse_rows(cs, w, fm.keep, fm.fb));
    r.desc = d;
    kernels::PruneMask m;
    m.keep = fm.keep;
    m.kept_saliency = fm.kept_saliency;
    r.format = format_name(ls->format);
    r.kept_saliency = m.kept_saliency;
    r.pruned_weights = kernels::apply_mask(m, w, cs.weight_count());
    // The family rule: the sparse engine, or the dense kernel on the pruned weights (the rows stay for
    // the OpenCL engine).
    r.kernel = conv_family(cs, *ls) == ConvFamily::kSparse ? std::shared_ptr<kernels::PreparedConv>(kernels::prepare_sparse_conv(d, *r.rows, bias))
                                                           : std::shared_ptr<kernels::PreparedConv>(kernels::prepare_dense_conv(cs, r.pruned_weights->data(), bias, ep));
    return r;
  }
  if (detect_structure && !ls && cs.groups == 1 && !kernels::dense_conv_runs_as_gemm(cs)) {
    std::vector<uint8_t> keep(static_cast<size_t>(cs.weight_count()));
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = w[i] != 0.0f;
    const int fb = detect_row_height(cs, keep);
    if (fb > 0) {
      kernels::ConvDesc d{cs, ep, {}};
      d.sparse.kind = kernels::SparseKind::kDetected;
      d.sparse.bf = fb;
      r.rows = std::make_shared<const kernels::SparseRows>(kernels::pack_sparse_rows(cs, w, keep, fb));
      r.desc = d;
      r.kernel = kernels::prepare_sparse_conv(d, *r.rows, bias);
      r.format = "detected";
    }
  }
  return r;
}

}  // namespace hilsim::runtime
