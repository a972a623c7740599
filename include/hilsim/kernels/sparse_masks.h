// Pruning-mask generators, the one mask library of the sparse kernels: which weights a format keeps,
// chosen by weight magnitude, and how much of the layer's weight energy they keep (kept_saliency = sum
// of kept w^2 / sum of all w^2, in [0, 1]; for an all-zero layer 1 when anything is kept, else 0) —
// the quantity the partitioner maximises. Masks are one byte per weight of an OIHW tensor.
//
// One rule for every ratio-driven mask: ratio must lie in [0, 1] (else hilsim::Error), units are scored
// (L2 norm, or |w| for single weights) and exactly round(ratio x units) of them are pruned, the lowest
// scores first; equal scores are pruned lowest unit index first. No further clamping is needed or done.
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

// Pattern (R-TOSS): every 3x3 kernel keeps the candidate pattern with the largest L2 norm; on a tie the
// candidate listed first in pattern_set() wins. 1x1 convs group each filter's consecutive 9 input
// channels into a temporary 3x3 (channel g * 9 + p at position p; a trailing group of fewer than 9 is
// pruned). units counts the 9-weight groups, pruned_units the trailing groups.
PruneMask pattern_mask(const ConvShape& s, const float* w, int entries);

// The one pattern table, positions ky * 3 + kx. R-TOSS builds its candidates from the combinations of
// k positions of a 3x3 kernel whose kept positions are adjacent, and quotes 21 patterns after its own
// selection without listing them; so hilsim keeps every candidate the adjacency rule gives, with
// 4-adjacency (sharing an edge), which is what run, plan, emit and calibration have always searched:
//   entries 2 (2EP): the 12 edge-adjacent pairs, listed cell by cell (row-major), right neighbour
//                    before the one below;
//   entries 3 (3EP): the 22 edge-connected triples: the 16 L-shapes (each 2x2 sub-square, row-major,
//                    minus one cell) then the 6 straight lines (row i, column i for i = 0, 1, 2).
// The order is the tie-break order, so it is part of what runs.
const std::vector<std::vector<int>>& pattern_set(int entries);

// Why the sparse engine cannot run `shape` in format `f` ("" when it can): the one rule the executor,
// the planner and the phone calibrator (which links no runtime) all ask.
std::string sparse_format_problem(const ConvShape& shape, const SparseFormat& f);

// The mask of a format (block, block_col: bf, bc, ratio; pattern: entries; csr: ratio; detected has
// no generator and throws).
PruneMask format_mask(const ConvShape& s, const float* w, const SparseFormat& f);

// Unstructured magnitude pruning: the round(ratio x n) smallest |w| go.
PruneMask magnitude_mask(const ConvShape& s, const float* w, double ratio);

// Channel (filter) pruning: the round(ratio x f) filters with the smallest L2 norm go.
PruneMask channel_mask(const ConvShape& s, const float* w, double ratio);

// Zeros the pruned weights of a copy (so the dense reference computes what the sparse kernel does).
std::vector<float> apply_mask(const PruneMask& m, const float* w, int64_t n);

}  // namespace hilsim::kernels
