#include "hilsim/graph/tensor.h"

#include <limits>
#include <sstream>

namespace hilsim::graph {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
    case DType::kBool: return "bool";
    case DType::kUnknown: break;
  }
  return "unknown";
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kInt64: return 8;
    case DType::kInt32: return 4;
    case DType::kBool: return 1;
    case DType::kUnknown: break;
  }
  return 0;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : s) {
    if (d < 0) return -1;
    // Saturate instead of overflowing: callers compare against size limits and report the tensor.
    if (!overflow && __builtin_mul_overflow(n, d, &n)) overflow = true;
  }
  return overflow ? std::numeric_limits<int64_t>::max() : n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
  os << ']';
  return os.str();
}

Tensor Tensor::zeros(std::string name, Shape shape) {
  Tensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.f32.assign(static_cast<size_t>(graph::numel(t.shape)), 0.0f);
  return t;
}

Tensor Tensor::ints(std::string name, std::vector<int64_t> values, Shape shape) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DType::kInt64;
  t.shape = std::move(shape);
  t.i64 = std::move(values);
  return t;
}

}  // namespace hilsim::graph
