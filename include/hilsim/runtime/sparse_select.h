// Kernel selection for a conv from its sparsity setting: the mask generator of the format prunes the
// weights on the fly (or, with no setting, weights that already carry zeros are detected and run
// sparse), and the matching sparse kernel is prepared.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/sparse_conv.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::runtime {

struct SparseChoice {
  std::shared_ptr<kernels::PreparedConv> kernel;  // null: run dense
  std::string format = "dense";                   // block | block_col | pattern | csr | detected
  double kept_saliency = 1.0;
  std::optional<std::vector<float>> pruned_weights;  // the weights with zeros in place, when pruned here
  // What the kernel was prepared from, so another unit (the OpenCL engine) runs the same packed rows.
  std::shared_ptr<const kernels::SparseRows> rows;
  kernels::ConvDesc desc;
};

// Throws Error naming the op when an explicit per-layer setting cannot run on this conv (e.g. pattern
// on a 5x5); a uniform spec leaves such convs dense.
SparseChoice choose_sparse_kernel(const graph::Graph& g, const graph::Op& op, const kernels::ConvShape& cs,
                                  const std::optional<LayerSparsity>& ls, bool explicit_layer, bool detect_structure,
                                  const kernels::Epilogue& ep);

// The mask of a format on a conv's weights, with the kernel row height and label it runs with.
struct FormatMask {
  std::vector<uint8_t> keep;
  double kept_saliency = 1.0;
  int fb = 1;
  std::string label;
};
FormatMask make_format_mask(const kernels::ConvShape& cs, const float* w, const LayerSparsity& ls);

// The kernels' descriptor of a sparse setting (throws for dense).
kernels::SparseFormat sparse_format_of(const LayerSparsity& ls);

// The row height at which already-zero weights pack with little padding (0: not sparse enough).
int detect_row_height(const kernels::ConvShape& cs, const std::vector<uint8_t>& keep);

}  // namespace hilsim::runtime
