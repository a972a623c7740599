// A constant or computed tensor: fp32 data for weights and activations, int64 for the shape-arithmetic
// chains (Shape/Gather/Unsqueeze/Concat) that exporters emit and the importer folds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hilsim::graph {

enum class DType { kFloat32, kInt64, kInt32, kBool, kUnknown };

const char* dtype_name(DType t);
// Bytes of one element; 0 for kUnknown.
int64_t dtype_size(DType t);

using Shape = std::vector<int64_t>;

// Number of elements; a shape with a negative (unresolved) dim gives -1.
int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);

struct Tensor {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  std::vector<float> f32;    // used when dtype == kFloat32
  std::vector<int64_t> i64;  // used for every integer/bool dtype

  int64_t numel() const { return graph::numel(shape); }
  static Tensor zeros(std::string name, Shape shape);
  static Tensor ints(std::string name, std::vector<int64_t> values, Shape shape);
};

}  // namespace hilsim::graph
