#include "hilsim/kernels/pattern_conv.h"

#include <algorithm>
#include <string>

#include "hilsim/kernels/block_sparse_conv.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

std::vector<std::vector<int>> make_pairs() {
  std::vector<std::vector<int>> v;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x) v.push_back({y * 3 + x, y * 3 + x + 1});
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) v.push_back({y * 3 + x, (y + 1) * 3 + x});
  return v;
}

std::vector<std::vector<int>> make_ells() {
  std::vector<std::vector<int>> v;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) {
      const int sq[4] = {y * 3 + x, y * 3 + x + 1, (y + 1) * 3 + x, (y + 1) * 3 + x + 1};
      for (int drop = 0; drop < 4; ++drop) {
        std::vector<int> p;
        for (int i = 0; i < 4; ++i)
          if (i != drop) p.push_back(sq[i]);
        v.push_back(p);
      }
    }
  return v;
}

}  // namespace

const std::vector<std::vector<int>>& pattern_candidates(int entries) {
  static const std::vector<std::vector<int>> pairs = make_pairs();
  static const std::vector<std::vector<int>> ells = make_ells();
  if (entries == 2) return pairs;
  if (entries == 3) return ells;
  throw Error("pattern", "entries must be 2 or 3, got " + std::to_string(entries));
}

void PatternMask::validate() const {
  const auto& cand = pattern_candidates(entries);
  if (k != 3 && k != 1) throw Error("pattern mask", "kernel size must be 3 or 1, got " + std::to_string(k));
  if (f <= 0 || c <= 0) throw Error("pattern mask", "empty weight shape");
  if (static_cast<int64_t>(pattern_id.size()) != f * groups_per_filter())
    throw Error("pattern mask", "pattern_id has " + std::to_string(pattern_id.size()) + " entries, expected " +
                                    std::to_string(f * groups_per_filter()));
  for (uint8_t id : pattern_id)
    if (id != kPatternRemoved && id >= cand.size())
      throw Error("pattern mask", "pattern id " + std::to_string(id) + " out of range");
}

std::vector<uint8_t> PatternMask::weight_keep() const {
  validate();
  const auto& cand = pattern_candidates(entries);
  const int64_t per_f = c * k * k, g = groups_per_filter();
  std::vector<uint8_t> keep(static_cast<size_t>(f * per_f), 0);
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < g; ++i) {
      const uint8_t id = pattern_id[static_cast<size_t>(o * g + i)];
      if (id == kPatternRemoved) continue;
      // 3x3: kernel i, position p; 1x1: channel i * 9 + p. Both are weight i * 9 + p of the filter.
      for (int p : cand[id]) keep[static_cast<size_t>(o * per_f + i * 9 + p)] = 1;
    }
  return keep;
}

std::unique_ptr<PreparedConv> prepare_pattern_conv(const ConvShape& s, const float* w, const float* bias,
                                                   const Epilogue& ep, const PatternMask& mask, Isa isa) {
  s.validate();
  const std::string where = "pattern conv " + s.str();
  if (!((s.kh == 3 && s.kw == 3) || (s.kh == 1 && s.kw == 1)))
    throw Error(where, "pattern pruning needs a 3x3 or 1x1 conv, got " + std::to_string(s.kh) + "x" +
                           std::to_string(s.kw));
  if (s.groups != 1) throw Error(where, "sparse kernels need groups == 1");
  if (!w) throw Error(where, "null weights");
  mask.validate();
  if (mask.f != s.f || mask.c != s.c || mask.k != s.kh) throw Error(where, "mask is for another weight shape");
  auto rows = pack_kept_columns(s.f, s.c, s.kh, s.kw, w, mask.weight_keep(), 1);
  const std::string label = "pattern_" + std::to_string(mask.entries) + "ep_" + (s.kh == 3 ? "3x3" : "1x1");
  return prepare_kept_column_conv(s, std::move(rows), bias, ep, label, isa);
}

}  // namespace hilsim::kernels
