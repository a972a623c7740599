#include "hilsim/kernels/masks.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

void check_ratio(double ratio, const char* where) {
  if (!(ratio >= 0.0 && ratio <= 1.0))
    throw Error(where, "ratio must be in [0, 1], got " + std::to_string(ratio));
}

// 1 for the units that survive: all but the `prune` lowest scores (ties: lower index pruned first).
std::vector<uint8_t> keep_top(const std::vector<double>& score, int64_t prune) {
  std::vector<int64_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
  std::vector<uint8_t> keep(score.size(), 1);
  for (int64_t i = 0; i < prune; ++i) keep[static_cast<size_t>(idx[static_cast<size_t>(i)])] = 0;
  return keep;
}

int64_t prune_count(double ratio, int64_t units) {
  return std::clamp<int64_t>(std::llround(ratio * static_cast<double>(units)), 0, units);
}

}  // namespace

double kept_energy_ratio(const float* w, const std::vector<uint8_t>& keep) {
  double kept = 0.0, total = 0.0;
  for (size_t i = 0; i < keep.size(); ++i) {
    const double e = static_cast<double>(w[i]) * w[i];
    total += e;
    if (keep[i]) kept += e;
  }
  return total > 0.0 ? kept / total : 1.0;
}

std::vector<float> masked_weights(const float* w, const std::vector<uint8_t>& keep) {
  std::vector<float> out(keep.size());
  for (size_t i = 0; i < keep.size(); ++i) out[i] = keep[i] ? w[i] : 0.0f;
  return out;
}

BlockMaskResult block_mask(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w, int bf, int bc,
                           double ratio, bool per_column) {
  check_ratio(ratio, "block mask");
  BlockMaskResult r;
  BlockMask& m = r.mask;
  m.bf = bf, m.bc = bc, m.per_column = per_column, m.f = f, m.c = c, m.kh = kh, m.kw = kw;
  if (!block_size_supported(bf, bc))
    throw Error("block mask", "unsupported block " + std::to_string(bf) + "x" + std::to_string(bc) +
                                  " (bf in {1,2,4,8,16,32}, bc in {1,2,4,8,16})");
  if (f <= 0 || c <= 0 || kh <= 0 || kw <= 0) throw Error("block mask", "empty weight shape");
  if (!w) throw Error("block mask", "null weights");
  const int64_t k = kh * kw, cb = m.col_blocks();
  std::vector<double> score(static_cast<size_t>(m.units()), 0.0);
  for (int64_t o = 0; o < f; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < k; ++p) {
        const int64_t rb = o / bf;
        const int64_t u = per_column ? (rb * c + ch) * k + p : (rb * cb + ch / bc) * k + p;
        const double x = w[(o * c + ch) * k + p];
        score[static_cast<size_t>(u)] += x * x;
      }
  r.units = m.units();
  r.pruned_units = prune_count(ratio, r.units);
  m.keep = keep_top(score, r.pruned_units);
  r.kept_saliency = kept_energy_ratio(w, m.weight_keep());
  return r;
}

PatternMaskResult pattern_mask(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w, int entries) {
  if (!((kh == 3 && kw == 3) || (kh == 1 && kw == 1)))
    throw Error("pattern mask", "pattern pruning needs a 3x3 or 1x1 conv, got " + std::to_string(kh) + "x" +
                                    std::to_string(kw));
  const auto& cand = pattern_candidates(entries);
  if (f <= 0 || c <= 0) throw Error("pattern mask", "empty weight shape");
  if (!w) throw Error("pattern mask", "null weights");
  PatternMaskResult r;
  PatternMask& m = r.mask;
  m.entries = entries, m.f = f, m.c = c, m.k = kh;
  const int64_t g = m.groups_per_filter(), per_f = c * kh * kw;
  m.pattern_id.assign(static_cast<size_t>(f * g), kPatternRemoved);
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < g; ++i) {
      const float* k9 = w + o * per_f + i * 9;  // the kernel, or 9 consecutive channels of a 1x1 filter
      double best = -1.0;
      for (size_t id = 0; id < cand.size(); ++id) {
        double e = 0.0;
        for (int p : cand[id]) e += static_cast<double>(k9[p]) * k9[p];
        if (e > best) best = e, m.pattern_id[static_cast<size_t>(o * g + i)] = static_cast<uint8_t>(id);
      }
    }
  r.kept_saliency = kept_energy_ratio(w, m.weight_keep());
  return r;
}

KeepMaskResult csr_mask(const float* w, int64_t n, double ratio) {
  check_ratio(ratio, "csr mask");
  if (n < 0 || (n > 0 && !w)) throw Error("csr mask", "bad weights");
  std::vector<double> score(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) score[static_cast<size_t>(i)] = std::fabs(w[i]);
  KeepMaskResult r;
  r.units = n;
  r.pruned_units = prune_count(ratio, n);
  r.keep = keep_top(score, r.pruned_units);
  r.unit_keep = r.keep;
  r.kept_saliency = kept_energy_ratio(w, r.keep);
  return r;
}

KeepMaskResult channel_mask(int64_t f, int64_t per_filter, const float* w, double ratio) {
  check_ratio(ratio, "channel mask");
  if (f <= 0 || per_filter <= 0 || !w) throw Error("channel mask", "bad weights");
  std::vector<double> score(static_cast<size_t>(f), 0.0);
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < per_filter; ++i) score[static_cast<size_t>(o)] += static_cast<double>(w[o * per_filter + i]) * w[o * per_filter + i];
  KeepMaskResult r;
  r.units = f;
  r.pruned_units = prune_count(ratio, f);
  r.unit_keep = keep_top(score, r.pruned_units);
  r.keep.resize(static_cast<size_t>(f * per_filter));
  for (int64_t o = 0; o < f; ++o)
    std::fill_n(r.keep.begin() + o * per_filter, per_filter, r.unit_keep[static_cast<size_t>(o)]);
  r.kept_saliency = kept_energy_ratio(w, r.keep);
  return r;
}

}  // namespace hilsim::kernels
