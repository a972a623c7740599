#include "hilsim/runtime/format_rules.h"

namespace hilsim::runtime {

std::string format_problem(const kernels::ConvShape& s, const LayerSparsity& ls) {
  auto k = [&] { return std::to_string(s.kh) + "x" + std::to_string(s.kw); };
  switch (ls.format) {
    case Format::kDense: return "";
    case Format::kBlock:
    case Format::kBlockCol:
      if (s.groups != 1) return "block-punched pruning needs a non-grouped conv (this one has groups=" + std::to_string(s.groups) + ")";
      return "";
    case Format::kPattern:
      if (s.groups != 1) return "pattern pruning needs a non-grouped conv (this one has groups=" + std::to_string(s.groups) + ")";
      if (!((s.kh == 3 && s.kw == 3) || (s.kh == 1 && s.kw == 1)))
        return "pattern pruning needs a 3x3 or 1x1 conv, this one is " + k();
      if (ls.entries != 2 && ls.entries != 3) return "pattern entries must be 2 or 3";
      return "";
    case Format::kCsr:
      if (s.groups != 1 || s.kh != 1 || s.kw != 1 || s.pad_top || s.pad_left || s.pad_bottom || s.pad_right ||
          s.dil_h != 1 || s.dil_w != 1)
        return "CSR sparse kernels run unpadded, non-grouped 1x1 convs, this one is " + k() +
               (s.groups != 1 ? " grouped" : "");
      return "";
  }
  return "unknown format";
}

}  // namespace hilsim::runtime
