// Pruning-mask generators: which weights a format keeps, chosen by weight magnitude, and how much of
// the layer's weight energy they keep (kept_saliency = sum of kept w^2 / sum of all w^2, in [0, 1]) —
// the quantity the partitioner maximises. Masks are one byte per weight of an OIHW tensor.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::kernels {

struct PruneMask {
  std::vector<uint8_t> keep;   // per weight, OIHW order
  double kept_saliency = 1.0;
  int64_t units = 0;           // pruning units of the format (positions, columns, kernels, weights)
  int64_t pruned_units = 0;
};

// Block-punched (YOLObile): units are kernel positions of each bf x bc block (per_column = false) or
// (channel, ky, kx) columns of bf filters (per_column = true); scored by the L2 norm of their weights;
// the round(ratio x units) lowest-scoring units of the whole layer are removed (one threshold, so
// blocks keep different counts). bf in {1,2,4,8,16,32}, bc in {1,2,4,8,16}; edge blocks are smaller.
PruneMask block_mask(const ConvShape& s, const float* w, int bf, int bc, double ratio, bool per_column);

// Pattern (R-TOSS): every 3x3 kernel keeps the candidate pattern with the largest L2 norm. 1x1 convs
// group each filter's consecutive 9 input channels into a temporary 3x3 (a trailing group of fewer
// than 9 is pruned). entries 2: the 12 pairs of 4-adjacent positions; entries 3: the 22 connected
// triples (16 L-shapes in the four 2x2 corners + 6 straight lines).
PruneMask pattern_mask(const ConvShape& s, const float* w, int entries);
// The candidate patterns as position indices (ky * 3 + kx).
const std::vector<std::vector<int>>& pattern_set(int entries);

// Unstructured magnitude pruning: the round(ratio x n) smallest |w| go.
PruneMask magnitude_mask(const ConvShape& s, const float* w, double ratio);

// Channel (filter) pruning: the round(ratio x f) filters with the smallest L2 norm go.
PruneMask channel_mask(const ConvShape& s, const float* w, double ratio);

// Zeros the pruned weights of a copy (so the dense reference computes what the sparse kernel does).
std::vector<float> apply_mask(const PruneMask& m, const float* w, int64_t n);

}  // namespace hilsim::kernels
