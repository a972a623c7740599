#include "hilsim/kernels/sparse_masks.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_ratio(double ratio, const char* what) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) throw Error(what, "ratio must be in [0, 1], got " + std::to_string(ratio));
}

// Removes the `prune` lowest-scoring units (ties broken by index, so the result is deterministic).
std::vector<uint8_t> keep_top(const std::vector<double>& score, int64_t prune) {
  std::vector<int64_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
  std::vector<uint8_t> keep(score.size(), 1);
  for (int64_t i = 0; i < prune; ++i) keep[idx[i]] = 0;
  return keep;
}

double saliency(const float* w, const std::vector<uint8_t>& keep) {
  double kept = 0, total = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    const double e = static_cast<double>(w[i]) * w[i];
    total += e;
    if (keep[i]) kept += e;
  }
  return total > 0 ? kept / total : (std::count(keep.begin(), keep.end(), 1) ? 1.0 : 0.0);
}

}  // namespace

PruneMask block_mask(const ConvShape& s, const float* w, int bf, int bc, double ratio, bool per_column) {
  check_ratio(ratio, "block mask");
  if (bf != 1 && bf != 2 && bf != 4 && bf != 8 && bf != 16 && bf != 32)
    throw Error("block mask", "bf " + std::to_string(bf) + " is not one of 1, 2, 4, 8, 16, 32");
  if (!per_column && bc != 1 && bc != 2 && bc != 4 && bc != 8 && bc != 16)
    throw Error("block mask", "bc " + std::to_string(bc) + " is not one of 1, 2, 4, 8, 16");
  if (s.groups != 1) throw Error("block mask", "block-punched pruning needs groups = 1");
  const int64_t P = s.kh * s.kw, C = s.c, F = s.f, K = C * P;
  const int64_t br = ceil_div(F, bf), bcn = per_column ? C : ceil_div(C, bc);
  PruneMask m;
  m.units = br * bcn * P;
  std::vector<double> score(static_cast<size_t>(m.units), 0.0);
  auto unit_of = [&](int64_t f, int64_t c, int64_t p) {
    return ((f / bf) * bcn + (per_column ? c : c / bc)) * P + p;
  };
  for (int64_t f = 0; f < F; ++f)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) {
        const double v = w[f * K + c * P + p];
        score[unit_of(f, c, p)] += v * v;
      }
  m.pruned_units = std::llround(ratio * static_cast<double>(m.units));
  std::vector<uint8_t> unit_keep = keep_top(score, m.pruned_units);
  m.keep.resize(static_cast<size_t>(F * K));
  for (int64_t f = 0; f < F; ++f)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) m.keep[f * K + c * P + p] = unit_keep[unit_of(f, c, p)];
  m.kept_saliency = saliency(w, m.keep);
  return m;
}

const std::vector<std::vector<int>>& pattern_set(int entries) {
  static const std::vector<std::vector<int>> two = [] {
    std::vector<std::vector<int>> r;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) {
        if (x + 1 < 3) r.push_back({y * 3 + x, y * 3 + x + 1});
        if (y + 1 < 3) r.push_back({y * 3 + x, (y + 1) * 3 + x});
      }
    return r;
  }();
  static const std::vector<std::vector<int>> three = [] {
    std::vector<std::vector<int>> r;
    for (int y = 0; y < 2; ++y)  // L-shapes: a 2x2 corner square minus one cell
      for (int x = 0; x < 2; ++x) {
        const int sq[4] = {y * 3 + x, y * 3 + x + 1, (y + 1) * 3 + x, (y + 1) * 3 + x + 1};
        for (int drop = 0; drop < 4; ++drop) {
          std::vector<int> p;
          for (int i = 0; i < 4; ++i)
            if (i != drop) p.push_back(sq[i]);
          r.push_back(p);
        }
      }
    for (int i = 0; i < 3; ++i) {
      r.push_back({i * 3, i * 3 + 1, i * 3 + 2});  // row
      r.push_back({i, i + 3, i + 6});              // column
    }
    return r;
  }();
  if (entries == 2) return two;
  if (entries == 3) return three;
  throw Error("pattern mask", "entries must be 2 or 3, got " + std::to_string(entries));
}

PruneMask pattern_mask(const ConvShape& s, const float* w, int entries) {
  const auto& pats = pattern_set(entries);
  if (s.groups != 1) throw Error("pattern mask", "pattern pruning needs groups = 1");
  PruneMask m;
  const int64_t F = s.f, C = s.c;
  m.keep.assign(static_cast<size_t>(F * C * s.kh * s.kw), 0);
  // A "kernel" is 9 weights: a 3x3 filter slice, or 9 consecutive input channels of a 1x1 filter.
  auto choose = [&](const float* k9, int64_t stride, uint8_t* keep9) {
    double best = -1;
    const std::vector<int>* bp = nullptr;
    for (const auto& p : pats) {
      double e = 0;
      for (int i : p) e += static_cast<double>(k9[i * stride]) * k9[i * stride];
      if (e > best) {
        best = e;
        bp = &p;
      }
    }
    for (int i : *bp) keep9[i * stride] = 1;
  };
  if (s.kh == 3 && s.kw == 3) {
    m.units = F * C;
    for (int64_t k = 0; k < F * C; ++k) choose(w + k * 9, 1, m.keep.data() + k * 9);
  } else if (s.kh == 1 && s.kw == 1) {
    const int64_t groups9 = C / 9;  // the trailing C % 9 channels are pruned
    m.units = F * ceil_div(C, 9);
    m.pruned_units = F * (C % 9 ? 1 : 0);
    for (int64_t f = 0; f < F; ++f)
      for (int64_t g = 0; g < groups9; ++g) choose(w + f * C + g * 9, 1, m.keep.data() + f * C + g * 9);
  } else {
    throw Error("pattern mask", "pattern pruning needs a 3x3 or 1x1 conv, this one is " + std::to_string(s.kh) + "x" +
                                    std::to_string(s.kw));
  }
  m.kept_saliency = saliency(w, m.keep);
  return m;
}

PruneMask magnitude_mask(const ConvShape& s, const float* w, double ratio) {
  check_ratio(ratio, "magnitude mask");
  PruneMask m;
  m.units = s.weight_count();
  std::vector<double> score(static_cast<size_t>(m.units));
  for (int64_t i = 0; i < m.units; ++i) score[i] = std::fabs(w[i]);
  m.pruned_units = std::llround(ratio * static_cast<double>(m.units));
  m.keep = keep_top(score, m.pruned_units);
  m.kept_saliency = saliency(w, m.keep);
  return m;
}

PruneMask channel_mask(const ConvShape& s, const float* w, double ratio) {
  check_ratio(ratio, "channel mask");
  PruneMask m;
  m.units = s.f;
  const int64_t per = s.weight_count() / std::max<int64_t>(1, s.f);
  std::vector<double> score(static_cast<size_t>(s.f), 0.0);
  for (int64_t f = 0; f < s.f; ++f)
    for (int64_t i = 0; i < per; ++i) score[f] += static_cast<double>(w[f * per + i]) * w[f * per + i];
  m.pruned_units = std::llround(ratio * static_cast<double>(s.f));
  std::vector<uint8_t> fk = keep_top(score, m.pruned_units);
  m.keep.resize(static_cast<size_t>(s.weight_count()));
  for (int64_t f = 0; f < s.f; ++f) std::fill(m.keep.begin() + f * per, m.keep.begin() + (f + 1) * per, fk[f]);
  m.kept_saliency = saliency(w, m.keep);
  return m;
}

PruneMask format_mask(const ConvShape& s, const float* w, const SparseFormat& f) {
  switch (f.kind) {
    case SparseKind::kBlock:
    case SparseKind::kBlockCol: return block_mask(s, w, f.bf, f.bc, f.ratio, f.kind == SparseKind::kBlockCol);
    case SparseKind::kPattern: return pattern_mask(s, w, f.entries);
    case SparseKind::kCsr: return magnitude_mask(s, w, f.ratio);
    case SparseKind::kDetected: break;
  }
  throw Error("mask of " + f.name(), "detected sparsity comes from the weights' zeros, not from a mask generator");
}

std::vector<float> apply_mask(const PruneMask& m, const float* w, int64_t n) {
  if (static_cast<int64_t>(m.keep.size()) != n) throw Error("apply_mask", "mask size differs from the weights");
  std::vector<float> r(w, w + n);
  for (int64_t i = 0; i < n; ++i)
    if (!m.keep[i]) r[i] = 0.0f;
  return r;
}

std::string sparse_format_problem(const ConvShape& s, const SparseFormat& f) {
  auto k = [&] { return std::to_string(s.kh) + "x" + std::to_string(s.kw); };
  switch (f.kind) {
    case SparseKind::kBlock:
    case SparseKind::kBlockCol:
    case SparseKind::kDetected:
      if (s.groups != 1) return "block-punched pruning needs a non-grouped conv (this one has groups=" + std::to_string(s.groups) + ")";
      return "";
    case SparseKind::kPattern:
      if (s.groups != 1) return "pattern pruning needs a non-grouped conv (this one has groups=" + std::to_string(s.groups) + ")";
      if (!((s.kh == 3 && s.kw == 3) || (s.kh == 1 && s.kw == 1)))
        return "pattern pruning needs a 3x3 or 1x1 conv, this one is " + k();
      if (f.entries != 2 && f.entries != 3) return "pattern entries must be 2 or 3";
      return "";
    case SparseKind::kCsr:
      if (s.groups != 1 || s.kh != 1 || s.kw != 1 || s.pad_top || s.pad_left || s.pad_bottom || s.pad_right ||
          s.dil_h != 1 || s.dil_w != 1)
        return "CSR sparse kernels run unpadded, non-grouped 1x1 convs, this one is " + k() +
               (s.groups != 1 ? " grouped" : "");
      return "";
  }
  return "unknown format";
}

}  // namespace hilsim::kernels
