// Which storage format a conv can take — one rule for the executor, the cost model and the planner,
// so a plan never names a kernel the runtime cannot run.
#pragma once

#include <string>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::runtime {

// "" when `ls` can run on a conv of shape `s`; otherwise why not (e.g. "pattern pruning needs a 3x3
// or 1x1 conv, this one is 5x5").
std::string format_problem(const kernels::ConvShape& s, const LayerSparsity& ls);

// Which kernel family runs a conv in setting `ls` (one that format_problem accepts): the sparse engine
// for a sparse format, the depthwise kernels for every depthwise shape (prepare_dense_conv hands those
// to them too, so a 7x7 depthwise conv runs the depthwise row kernel, not the GEMM), else the dense GEMM.
// A pruned 1x1 conv on a 1x1 map (squeeze-excite) runs dense with its zeros in place: the GEMM over the
// images (kernels::dense_conv_runs_as_gemm) beat the sparse engine's pixel tiles at every format
// (EfficientNet-B2's 2112->88 SE conv: 0.10 ms in pattern:2 or block 8x4@0.7, 0.055 ms as a GEMM); emit
// packs no rows for it, and the OpenCL engine, which has no such GEMM, still runs its packed rows.
// The executor prepares by it and the cost model prices by it (model::conv_class).
enum class ConvFamily { kDense, kDepthwise, kSparse };
ConvFamily conv_family(const kernels::ConvShape& s, const LayerSparsity& ls);

}  // namespace hilsim::runtime
