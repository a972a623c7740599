// CoDL's channel split (MobiSys'22) as the planner's fourth choice beside one unit and a branch split:
// one conv's output channels shared between two units that run at once, priced by the simulator on the
// split graph (both parts, the crossings of the input and of one part's output, and the join), and the
// conv and ratio chosen by simulated makespan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/graph.h"
#include "hilsim/model/profile.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::partition {

struct ChannelSplitChoice {
  std::string op;       // the conv (canonical name)
  std::string unit;     // runs its first `channels` output channels
  std::string home;     // runs the rest, the join and every other op
  int64_t channels = 0, of_channels = 0;
  double predicted_ms = 0;  // simulated makespan of the whole model with the split
};

// The whole model with `c.op` split, every other op on `c.home` unless `config` pins it: the
// predictor's answer on the split graph. `config` must leave `c.op` dense.
costmodel::Prediction predict_channel_split(const graph::Graph& model, const model::Profile& profile,
                                            const runtime::SparsitySpec& config, const ChannelSplitChoice& c,
                                            bool with_trace = false);

// Over the `max_convs` dense ungrouped convs with the most MACs and the first part's share in eighths
// (1/8 .. 7/8 of the output channels), the split with the smallest simulated makespan, whether or not
// it beats running on one unit (the caller compares); nullopt when no conv can be split.
std::optional<ChannelSplitChoice> best_channel_split(const graph::Graph& model, const model::Profile& profile,
                                                     const runtime::SparsitySpec& config, const std::string& home,
                                                     const std::string& unit, int max_convs = 4);

}  // namespace hilsim::partition
