// The one rule from a conv kernel's family and window to the cost-model class that prices it (the
// table in kernel_names.h). A unit of its own, with no runtime or graph code behind it, so that the
// standalone calibrator (no Boost, no ONNX) files its grid points under the classes predictions ask for.
#pragma once

#include <cstdint>
#include <string>

#include "hilsim/runtime/format_rules.h"

namespace hilsim::model {

// The class of a conv kernel of `family` over a kh x kw window (row_height: the sparse engine's rows,
// kernels::SparseFormat::row_height()): dense_conv{1x1,3x3,5x5,kxk}, depthwise_conv{3x3,5x5,7x7}
// (other depthwise windows price as the dense class of their size), sparse_fb{row_height}.
std::string conv_kernel_class(runtime::ConvFamily family, int64_t kh, int64_t kw, int row_height);

// The class that priced a conv of class `klass` before `klass` had a class of its own, "" if none:
// depthwise 7x7 convs were dense_convkxk. A profile calibrated before the split (the bundled ones)
// has a fit for that class and none for the new one; predictions then price such convs as it did.
std::string older_conv_class(const std::string& klass);

}  // namespace hilsim::model
