// One name per conv kernel across run, predict, bench-kernels and calibration, and the one table from a
// kernel's name to the cost-model class that prices it. Profiles key their fits by class, not by kernel:
// several kernels share a class (every sparse format of one row height runs the same engine, and the
// ISA changes the speed, which the profile's own machine fixes, not the class).
//
//   kernel (what `run` reports)                       class (profile key, predict's `class`)
//   dense_conv{1,3,5}x{same}_f32_gemm_8x32_{isa}      dense_conv1x1 / dense_conv3x3 / dense_conv5x5
//   dense_conv{other kh}x{kw}_f32_gemm_8x32_{isa}     dense_convkxk
//   depthwise_conv{3,5,7}x{same}_f32_dwconv_..._{isa} depthwise_conv3x3 / depthwise_conv5x5 / depthwise_conv7x7
//     (..._c16_{isa}: the channel-lanes path, same class; its features follow the kernels' shape rule;
//     a profile without depthwise_conv7x7, calibrated before it had a class, prices those convs as
//     dense_convkxk, as it was fitted: model::older_conv_class)
//   depthwise_conv{other}_f32_dwconv_row_generic      dense_conv1x1 / dense_convkxk (no class of their own:
//                                                     calibration has always timed them under these)
//   block_{bf}x{bc}_{isa}, block_col_{bf}x{bc}_{isa}  sparse_fb{min(bf, 16)}
//   pattern_{2,3}ep_{isa}, csr_1x1_{isa}               sparse_fb1
//   detected_rows{fb}_{isa}                           sparse_fb{fb}
//   gemm_f32_gemm_8x32_{isa}                          gemm
//   any other op's kernel                             memory_class(op type)
#pragma once

#include <optional>
#include <string>

#include "hilsim/kernels/conv_desc.h"
#include "hilsim/kernels/cpu_features.h"
#include "hilsim/model/conv_kernel_class.h"
#include "hilsim/model/profile.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim::model {

// The path the kernels dispatch on for a profile's CPU, from the extensions it recorded (device.isa),
// by the rule the kernels detect with; nullopt when none were recorded (spec profiles list none).
std::optional<kernels::Isa> dispatch_isa(const DeviceInfo& d);

// The kernel the runtime runs for a conv in setting `ls` on a CPU running `isa` (what `hilsim run`
// reports there). Without an ISA: the name without its ISA part, "block_8x4", "dense_conv3x3",
// "depthwise_conv3x3". `ls` must be a setting the conv can take (conv_op_instance falls back first).
std::string conv_kernel_name(const kernels::ConvShape& s, const runtime::LayerSparsity& ls,
                             std::optional<kernels::Isa> isa);

// The class that prices a conv or gemm kernel, from its name with or without the ISA part (the table
// above); "" for any other name.
std::string kernel_class_of(const std::string& kernel);

// The class of an op as `run` executed it: kernel_class_of(kernel), else memory_class(type) for ops
// that are neither convs nor constant-weight gemms; "" for a conv run by a kernel the table does not
// know (the naive reference path, OpenCL kernels).
std::string run_op_class(const std::string& type, const std::string& kernel);

}  // namespace hilsim::model
