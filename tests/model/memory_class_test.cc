// memory_class (model/instances) checked against the op registry, op by op.
#include "hilsim/model/instances.h"

#include <gtest/gtest.h>

#include "hilsim/graph/op_registry.h"

namespace hilsim::model {
namespace {

// The memory class is the registry's cost class: one list, not a second table here.
TEST(Instances, MemoryClassComesFromTheOpRegistry) {
  for (const auto& s : graph::op_registry()) EXPECT_EQ(memory_class(s.type), s.cost_class) << s.type;
  EXPECT_EQ(memory_class("GlobalMaxPool"), "pool");
  EXPECT_EQ(memory_class("Transpose"), "copy");
  EXPECT_EQ(memory_class("Upsample"), "resize");
  EXPECT_EQ(memory_class("NotAnOp"), "elementwise");  // --allow-unknown ops are priced as elementwise
}

}  // namespace
}  // namespace hilsim::model
