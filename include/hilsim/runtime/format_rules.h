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

}  // namespace hilsim::runtime
