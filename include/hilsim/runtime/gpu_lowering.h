// Lowers ops placed on a gpu unit to hilsim's OpenCL kernels over device buffers. The memory-bound ops
// follow the CPU lowering's choice (its kernel name says which kernel a node takes), so both units
// compute the same thing: binary ops with a same-shape, per-channel or scalar operand, max/avg pooling,
// global average pooling, concat, integer nearest resize and reshape-like copies. Anything else
// returns nullopt and runs on the unit's host thread with the CPU kernel.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
#include "hilsim/kernels/opencl/cl_runtime.h"

namespace hilsim::runtime {

struct GpuLoweredOp {
  std::function<double()> fn;  // runs the kernel(s); returns their profiled time in ms
  std::string kernel;          // e.g. "ocl_max_pool2d"
};

// Device buffer of an arena buffer index.
using DeviceAddress = std::function<const kernels::opencl::ClBuffer&(int)>;

// Whether an OpenCL kernel takes a memory-bound node whose CPU lowering chose `cpu_kernel`: the rule
// lower_gpu_memory_op follows, decided from the graph alone (no device needed).
bool gpu_takes_memory_op(const graph::Graph& g, const graph::Op& op, const std::string& cpu_kernel);

// The kernel a gpu unit runs `op` with, as the executor decides it but without a device: "ocl_conv" for
// convs, "ocl_<cpu kernel>" where an OpenCL kernel takes a memory-bound op, else "host_<cpu kernel>"
// ("host_gemm" for Gemm/MatMul with constant weights): those run on the unit's host thread with the CPU
// kernel, their inputs copied back from the device and their outputs up. The cost model prices them so.
std::string gpu_kernel_of(const graph::Graph& g, const graph::Op& op);

// `cpu_kernel`: the kernel name lower_memory_op chose for the node. Constants are uploaded here, once.
std::optional<GpuLoweredOp> lower_gpu_memory_op(const graph::Graph& g, const graph::Op& op, const std::string& cpu_kernel,
                                                const std::vector<int>& in, const std::vector<int>& out,
                                                DeviceAddress dev);

}  // namespace hilsim::runtime
