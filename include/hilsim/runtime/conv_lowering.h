// From an ONNX Conv/activation node to the kernels' descriptors: the ConvShape (auto_pad resolved)
// and the fused Epilogue. Shared by the executor and the cost model, so both see the same kernel.
#pragma once

#include "hilsim/graph/graph.h"
#include "hilsim/kernels/conv_desc.h"

namespace hilsim::runtime {

// Throws hilsim::Error naming the node when it is not a 2-D NCHW conv with known shapes.
kernels::ConvShape conv_shape_of(const graph::Graph& g, const graph::Op& conv);
kernels::Epilogue epilogue_of(const graph::Op& op);

}  // namespace hilsim::runtime
