// Pruning-mask generators for the sparse kernels, chosen by weight magnitude. Each result carries
// kept_saliency = (sum of kept w^2) / (sum of all w^2): the share of the layer's weight energy (squared
// L2 norm) that survives, in [0, 1]; 1 when nothing is pruned or all weights are zero.
// Units are scored by their L2 norm and the lowest-scoring round(ratio x units) are pruned with one
// layer-wide threshold (ties broken by index, lowest index pruned first). ratio must be in [0, 1].
#pragma once

#include <cstdint>
#include <vector>

#include "hilsim/kernels/block_sparse_conv.h"
#include "hilsim/kernels/pattern_conv.h"

namespace hilsim::kernels {

struct BlockMaskResult {
  BlockMask mask;
  double kept_saliency = 1.0;
  int64_t units = 0, pruned_units = 0;
};

// Block-punched (per_column = false) or block_col (per_column = true) mask of a [f, c, kh, kw] tensor.
// Blocks keep different counts. Throws hilsim::Error for unsupported bf/bc or a bad ratio.
BlockMaskResult block_mask(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w_oihw, int bf, int bc,
                           double ratio, bool per_column);

struct PatternMaskResult {
  PatternMask mask;
  double kept_saliency = 1.0;
};

// kh = kw = 3: per kernel the candidate with the largest kept L2 norm; kh = kw = 1: per 9-channel group
// (pattern_conv.h). Throws hilsim::Error naming the kernel size otherwise, or for entries not 2 / 3.
PatternMaskResult pattern_mask(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w_oihw, int entries);

struct KeepMaskResult {
  std::vector<uint8_t> keep;       // one byte per weight (1 = kept)
  std::vector<uint8_t> unit_keep;  // per unit: per weight for csr_mask, per output filter for channel_mask
  double kept_saliency = 1.0;
  int64_t units = 0, pruned_units = 0;
};

// Unstructured magnitude pruning of n weights: the round(ratio x n) smallest |w| go.
KeepMaskResult csr_mask(const float* w, int64_t n, double ratio);

// Filter pruning of a [f, per_filter] tensor (per_filter = c * kh * kw): the round(ratio x f) filters
// with the smallest L2 norm go.
KeepMaskResult channel_mask(int64_t f, int64_t per_filter, const float* w, double ratio);

// A copy of w (keep.size() weights) with the pruned ones zeroed, for the dense reference path.
std::vector<float> masked_weights(const float* w, const std::vector<uint8_t>& keep);
// Energy share of the kept weights (kept_saliency of an arbitrary per-weight mask).
double kept_energy_ratio(const float* w, const std::vector<uint8_t>& keep);

}  // namespace hilsim::kernels
