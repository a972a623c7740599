// Pattern-sparse convolution (R-TOSS): every 3x3 kernel keeps one small pattern of 2 or 3 positions,
// or is removed whole. Runs on the kept-column engine of block_sparse_conv.h with rows of one filter,
// so only the kept taps are multiplied.
//
// Candidate patterns (positions ky * 3 + kx of the 3x3):
//  entries 2 (2EP): the 12 pairs of horizontally or vertically adjacent positions;
//  entries 3 (3EP): the 16 L-shaped triples, 4 in each of the four 2x2 sub-squares.
// R-TOSS quotes 21 candidates for its 2EP + 3EP sets; the adjacency rule above gives 12 + 16 = 28 and
// the paper does not list which 7 L-shapes it leaves out, so all 28 are kept.
//
// 1x1 convs: each filter's input channels are cut into groups of 9 consecutive channels, viewed as a
// temporary 3x3 (channel g * 9 + p at position p); each group keeps one pattern. A trailing group of
// fewer than 9 channels is pruned entirely.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"

namespace hilsim::kernels {

constexpr uint8_t kPatternRemoved = 255;

struct PatternMask {
  int entries = 2;           // 2 or 3
  int64_t f = 0, c = 0;
  int64_t k = 3;             // kernel size: 3 (3x3) or 1 (1x1, grouped by 9 channels)
  // 3x3: per kernel, pattern_id[o * c + ch]; 1x1: per 9-channel group, pattern_id[o * (c / 9) + g].
  // Index into pattern_candidates(entries), or kPatternRemoved.
  std::vector<uint8_t> pattern_id;

  int64_t groups_per_filter() const { return k == 3 ? c : c / 9; }
  void validate() const;  // throws hilsim::Error
  // One byte per weight (OIHW [f, c, k, k]): 1 where kept.
  std::vector<uint8_t> weight_keep() const;
};

// The candidate patterns as sorted positions ky * 3 + kx; throws unless entries is 2 or 3.
const std::vector<std::vector<int>>& pattern_candidates(int entries);

// For 3x3 (any stride, padding, dilation) and 1x1 convs with groups == 1; throws hilsim::Error naming
// the kernel size otherwise. Weights outside the patterns are ignored.
std::unique_ptr<PreparedConv> prepare_pattern_conv(const ConvShape& shape, const float* w_oihw,
                                                   const float* bias_or_null, const Epilogue& ep,
                                                   const PatternMask& mask, Isa isa = active_isa());

}  // namespace hilsim::kernels
