#pragma once
#include <cstdint>
#include <string>

#include "hilsim/graph/graph.h"
namespace hilsim::graph::passes {

// CoDL's split of one conv between two units along its output channels (MobiSys'22): the conv becomes
// two convs over the same input, output channels [0, first_channels) and [first_channels, F), each with
// its slice of the weights and bias and the fused activation, and a Concat along channels that produces
// the original output tensor, so that every consumer is unchanged.
struct ChannelSplitParts {
  std::string first, second, join;  // op names: NAME/ch0, NAME/ch1, NAME/join
};

// Throws hilsim::Error naming the op when it is not a conv with constant weights, is grouped, or
// first_channels is not in 1..F-1. Shapes are inferred again before it returns.
ChannelSplitParts split_conv_channels(Graph& g, const std::string& op, int64_t first_channels);

}  // namespace hilsim::graph::passes
