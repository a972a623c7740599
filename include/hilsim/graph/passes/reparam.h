#pragma once
#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {
// MobileOne structural re-parameterisation: an Add whose inputs are parallel Conv(+BN) branches and
// BN-only identity branches over the same input becomes one Conv (1x1 kernels zero-padded to kxk,
// identity as a centred delta kernel). Any number of branches. Returns the number of Adds removed.
int reparameterize(Graph& g);
}  // namespace hilsim::graph::passes
