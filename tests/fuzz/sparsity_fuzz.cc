// libFuzzer target for the sparsity specs users write (`--sparsity block:8x4@0.8` and its per-layer JSON
// file): any byte string must either parse or raise hilsim::Error — never crash, hang or raise
// anything else. A spec that parsed must print back to one that parses the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hilsim::runtime::LayerSparsity s = hilsim::runtime::parse_layer_spec(text);
    const std::string again = hilsim::runtime::layer_spec_str(s);
    if (hilsim::runtime::layer_spec_str(hilsim::runtime::parse_layer_spec(again)) != again) __builtin_trap();
  } catch (const hilsim::Error&) {
  }
  try {
    hilsim::runtime::parse_sparsity_json(text, "<fuzz>");
  } catch (const hilsim::Error&) {
  }
  return 0;
}
