// libFuzzer target for the ONNX importer: any byte string must import or raise hilsim::Error —
// never crash, hang or raise anything else. What imports must also export and re-import.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hilsim/analysis/analysis.h"
#include "hilsim/graph/onnx_io.h"
#include "hilsim/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  for (bool allow_unknown : {false, true}) {
    try {
      hilsim::graph::ImportOptions o;
      o.allow_unknown = allow_unknown;
      hilsim::graph::Graph g = hilsim::graph::import_onnx_bytes(bytes, "<fuzz>", o);
      hilsim::analysis::analyze(g);
      if (!allow_unknown) hilsim::graph::import_onnx_bytes(hilsim::graph::export_onnx_bytes(g), "<fuzz-roundtrip>");
    } catch (const hilsim::Error&) {
    }
  }
  return 0;
}
