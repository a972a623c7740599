// The kernels an emitted library calls, as the text of one self-contained C++17 header (no hilsim,
// Boost or ONNX headers; GCC vector extensions, so one text compiles for x86-64 and aarch64). The
// generated layer functions instantiate its templates with their shape, row height, tile width,
// loop order and epilogue as template arguments.
#pragma once

#include <string>

namespace hilsim::codegen {

// The header's file name in an emitted directory and its text.
inline constexpr const char* kKernelHeaderName = "model_kernels.h";
const std::string& kernel_header_text();

}  // namespace hilsim::codegen
