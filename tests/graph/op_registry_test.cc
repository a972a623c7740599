// The op registry is the one list of supported ops: the importer's list, shape inference and constant
// folding all read it, so none of them can hold an op the others lack.
#include "hilsim/graph/op_registry.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "hilsim/graph/onnx_io.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {
namespace {

TEST(OpRegistry, SortedUniqueAndEveryOpHasAShapeFunction) {
  const auto& ops = op_registry();
  ASSERT_FALSE(ops.empty());
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_LT(ops[i - 1].type, ops[i].type);
  for (const auto& s : ops) {
    SCOPED_TRACE(s.type);
    EXPECT_NE(shape_function(s.type), nullptr);
    EXPECT_LE(s.opset_min, s.opset_max);
    EXPECT_FALSE(s.cost_class.empty());
    EXPECT_EQ(find_op_spec(s.type), &s);
    for (const auto& a : s.attrs) EXPECT_FALSE(a.required && !a.default_text.empty()) << a.name;
  }
  EXPECT_EQ(find_op_spec("NoSuchOp"), nullptr);
  EXPECT_EQ(shape_function("NoSuchOp"), nullptr);
}

TEST(OpRegistry, ImporterListIsTheRegistrysImportableOps) {
  std::vector<std::string> want;
  for (const auto& s : op_registry())
    if (s.importable) want.push_back(s.type);
  EXPECT_EQ(supported_op_types(), want);
  // These four had shape inference and a reference implementation, but the importer refused them.
  for (const char* t : {"Max", "Min", "Less", "Greater"})
    EXPECT_TRUE(std::binary_search(want.begin(), want.end(), std::string(t))) << t;
  // Created by the GELU pass only; files stop at opset 17.
  EXPECT_FALSE(std::binary_search(want.begin(), want.end(), std::string("Gelu")));
}

Op node(const std::string& type) {
  Op op;
  op.type = type;
  op.name = "n";
  return op;
}

std::string error_of(const OpSpec& spec, const Op& op, int64_t opset) {
  try {
    validate_op(spec, op, opset, "node 'n'");
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "node 'n'");
    return e.detail();
  }
  return "";
}

TEST(OpRegistry, ValidatesAttributesAndOpsets) {
  const OpSpec& conv = *find_op_spec("Conv");
  Op ok = node("Conv");
  ok.attrs["group"] = int64_t{2};
  ok.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  EXPECT_EQ(error_of(conv, ok, 13), "");

  Op bad_type = ok;
  bad_type.attrs["group"] = 2.0f;
  EXPECT_NE(error_of(conv, bad_type, 13).find("attribute 'group' must be of type int, got float"), std::string::npos);

  Op unknown = ok;
  unknown.attrs["bogus"] = int64_t{1};
  EXPECT_NE(error_of(conv, unknown, 13).find("attribute 'bogus' is not supported for Conv"), std::string::npos);

  EXPECT_NE(error_of(*find_op_spec("Concat"), node("Concat"), 13).find("required attribute 'axis' is missing"),
            std::string::npos);
  EXPECT_NE(error_of(*find_op_spec("HardSwish"), node("HardSwish"), 13).find("opsets 14–17"), std::string::npos);
  EXPECT_EQ(error_of(*find_op_spec("HardSwish"), node("HardSwish"), 14), "");
}

}  // namespace
}  // namespace hilsim::graph
