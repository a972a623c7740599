// The packed weights of an emitted model: every sparse conv in the kernels' compact format (rows of
// fb filters, kept input columns, dense value panels, row order), in a versioned binary file with a
// checksum, so a corrupt or truncated file is refused before anything is built from it.
//
// Layout (little-endian):
//   "HILSIMPK" | u32 version (2) | u32 0 | u64 payload bytes | payload | u64 FNV-1a-64 of the payload
// payload:
//   str fingerprint | u32 convs | per conv: str op, str label, i32 fb, i64 f, c, kh, kw,
//   vec<i32> row_begin, vec<i32> cols, vec<f32> values, vec<i32> order, vec<f32> bias
//   (str = u32 length + bytes; vec<T> = u64 count + count x T)
// The four row vectors are exactly kernels::sparse_weight_bytes() of the conv. Version 1 stored
// row_begin as i64 and a redundant kept_weights count; it is refused with a message to re-emit.
#pragma once

#include <string>
#include <vector>

#include "hilsim/kernels/sparse_conv.h"

namespace hilsim::partition {

inline constexpr uint32_t kPackedVersion = 2;

struct PackedConv {
  std::string op;
  std::string label;  // the kernel name stem, kernels::SparseFormat::name(): block_8x4, pattern_2ep, ...
  kernels::SparseRows rows;
  std::vector<float> bias;
};

struct PackedModel {
  std::string fingerprint;  // of the canonical graph it belongs to
  std::vector<PackedConv> convs;
};

std::string serialize_packed(const PackedModel& m);
PackedModel parse_packed(const std::string& bytes, const std::string& where);
void save_packed(const PackedModel& m, const std::string& path);
PackedModel load_packed(const std::string& path);

}  // namespace hilsim::partition
