#include "hilsim/graph/model_source.h"

#include "hilsim/graph/zoo.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {

namespace {
// As the flag spells it: 4x3x112x112.
std::string dims_x(const Shape& s) {
  std::string r;
  for (int64_t d : s) r += (r.empty() ? "" : "x") + std::to_string(d);
  return r;
}
}  // namespace

bool is_zoo_spec(const std::string& spec) { return spec.rfind("zoo:", 0) == 0; }

Graph load_model(const std::string& spec, const ImportOptions& opts) {
  if (!is_zoo_spec(spec)) return import_onnx(spec, opts);
  std::string rest = spec.substr(4);
  ZooOptions z;
  auto parse_num = [&](const std::string& s, const char* what) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) throw Error(spec, std::string("bad ") + what + " '" + s + "' (write zoo:NAME@RES or zoo:NAME@RESxWIDTH)");
    return v;
  };
  const auto at = rest.find('@');
  std::string name = rest.substr(0, at);
  if (at != std::string::npos) {
    std::string res = rest.substr(at + 1);
    const auto x = res.find('x');
    if (x != std::string::npos) {
      z.width = parse_num(res.substr(x + 1), "width");
      res = res.substr(0, x);
    }
    z.resolution = static_cast<int64_t>(parse_num(res, "resolution"));
  }
  if (!opts.input_shapes.empty()) {
    const Shape& s = opts.input_shapes.begin()->second;
    // The zoo builds batch-1, 3-channel models: another batch or channel count would be answered for
    // the wrong input without a word.
    if (s.size() != 4 || s[0] != 1 || s[1] != 3 || s[2] != s[3])
      throw Error("--input-shape " + dims_x(s), "zoo models take 1x3xRxR (batch 1, 3 channels, square), as in --input-shape 1x3x" +
                                                       std::to_string(s.size() == 4 ? s[2] : 224) + "x" +
                                                       std::to_string(s.size() == 4 ? s[2] : 224));
    z.resolution = s[2];
  }
  return make_zoo_model(name, z);
}

}  // namespace hilsim::graph
