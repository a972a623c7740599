#include "hilsim/runtime/sparsity_spec.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/json_parse.h"
#include "hilsim/util/strings.h"

namespace hilsim::runtime {

using nlohmann::json;

const char* format_name(Format f) {
  switch (f) {
    case Format::kDense: return "dense";
    case Format::kBlock: return "block";
    case Format::kBlockCol: return "block_col";
    case Format::kPattern: return "pattern";
    case Format::kCsr: return "csr";
  }
  return "dense";
}

namespace {

bool valid_bf(int v) { return v == 1 || v == 2 || v == 4 || v == 8 || v == 16 || v == 32; }
bool valid_bc(int v) { return v == 1 || v == 2 || v == 4 || v == 8 || v == 16; }

void check(const LayerSparsity& s, const std::string& where) {
  if (s.format == Format::kBlock || s.format == Format::kBlockCol) {
    if (!valid_bf(s.bf)) throw Error(where, "block filters " + std::to_string(s.bf) + " not in {1,2,4,8,16,32}");
    if (!valid_bc(s.bc)) throw Error(where, "block channels " + std::to_string(s.bc) + " not in {1,2,4,8,16}");
  }
  if (s.format == Format::kPattern && s.entries != 2 && s.entries != 3)
    throw Error(where, "pattern entries must be 2 or 3 (got " + std::to_string(s.entries) + ")");
  if (!(s.ratio >= 0 && s.ratio <= 1)) throw Error(where, "ratio must be within [0, 1]");
}

Format parse_format(const std::string& f, const std::string& where) {
  if (f == "dense") return Format::kDense;
  if (f == "block") return Format::kBlock;
  if (f == "block_col") return Format::kBlockCol;
  if (f == "pattern") return Format::kPattern;
  if (f == "csr") return Format::kCsr;
  throw Error(where, "unknown format '" + f + "' (dense, block, block_col, pattern, csr)");
}

double parse_ratio(const std::string& t, const std::string& where) {
  double r = 0;
  if (!parse_number(t, &r)) throw Error(where, "ratio '" + t + "' is not a number");
  return r;
}

int parse_int(const std::string& t, const std::string& where) {
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos)
    throw Error(where, "'" + t + "' is not a positive integer");
  // Digits only, so the one failure left is size (the fuzzer found block:666...8x4 ending the process).
  if (t.size() > 9) throw Error(where, "'" + t + "' is too large");
  return std::stoi(t);
}

}  // namespace

std::optional<LayerSparsity> SparsitySpec::for_op(const std::string& name) const {
  auto it = layers.find(name);
  if (it != layers.end()) return it->second;
  return all;
}

LayerSparsity parse_layer_spec(const std::string& text) {
  std::string where = "sparsity spec '" + text + "'";
  LayerSparsity s;
  std::string head = text, ratio;
  if (auto at = text.find('@'); at != std::string::npos) head = text.substr(0, at), ratio = text.substr(at + 1);
  std::string fmt = head, arg;
  if (auto colon = head.find(':'); colon != std::string::npos) fmt = head.substr(0, colon), arg = head.substr(colon + 1);
  s.format = parse_format(fmt, where);
  if (!ratio.empty()) s.ratio = parse_ratio(ratio, where);
  switch (s.format) {
    case Format::kBlock:
    case Format::kBlockCol: {
      auto x = arg.find('x');
      if (x == std::string::npos) throw Error(where, "block size must look like 8x4 (filters x channels)");
      s.bf = parse_int(arg.substr(0, x), where);
      s.bc = parse_int(arg.substr(x + 1), where);
      if (ratio.empty()) throw Error(where, "needs a ratio, e.g. block:8x4@0.8");
      break;
    }
    case Format::kPattern: {
      std::string e = arg;
      if (e.size() > 2 && (e.substr(e.size() - 2) == "ep" || e.substr(e.size() - 2) == "EP")) e = e.substr(0, e.size() - 2);
      s.entries = arg.empty() ? 2 : parse_int(e, where);
      s.ratio = 1.0 - s.entries / 9.0;
      break;
    }
    case Format::kCsr:
      if (ratio.empty()) throw Error(where, "needs a ratio, e.g. csr@0.9");
      if (!arg.empty()) throw Error(where, "csr takes no size argument");
      break;
    case Format::kDense:
      break;
  }
  check(s, where);
  return s;
}

std::string layer_spec_str(const LayerSparsity& s) {
  std::ostringstream os;
  os << format_name(s.format);
  if (s.format == Format::kBlock || s.format == Format::kBlockCol) os << ":" << s.bf << "x" << s.bc << "@" << s.ratio;
  if (s.format == Format::kPattern) os << ":" << s.entries;
  if (s.format == Format::kCsr) os << "@" << s.ratio;
  return os.str();
}

SparsitySpec parse_sparsity_json(const std::string& text, const std::string& where) {
  json j = parse_json(text, where);
  if (!j.is_object()) throw Error(where, "must map op names to their sparsity");
  SparsitySpec spec;
  for (auto it = j.begin(); it != j.end(); ++it) {
    // Field paths end inside the quotes: "s.json: field 'conv1.ratio'".
    auto field = [&](const std::string& sub) { return where + ": field '" + it.key() + (sub.empty() ? "" : "." + sub) + "'"; };
    std::string fw = field("");
    const json& v = it.value();
    if (!v.is_object()) throw Error(fw, "must be an object like {\"format\":\"block\",\"block\":[8,4],\"ratio\":0.8}");
    LayerSparsity s;
    if (!v.contains("format") || !v["format"].is_string()) throw Error(field("format"), "is missing or not a string");
    s.format = parse_format(v["format"].get<std::string>(), field("format"));
    if (v.contains("block")) {
      const json& b = v["block"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer())
        throw Error(field("block"), "must be [filters, channels]");
      // Read wide first: get<int> of 4294967304 would quietly be 8.
      const int64_t bf = b[0].get<int64_t>(), bc = b[1].get<int64_t>();
      if (bf < 1 || bc < 1 || bf > 4096 || bc > 4096) throw Error(field("block"), "sizes must be 1..4096");
      s.bf = static_cast<int>(bf), s.bc = static_cast<int>(bc);
    }
    if (v.contains("ratio")) {
      if (!v["ratio"].is_number()) throw Error(field("ratio"), "must be a number");
      s.ratio = v["ratio"].get<double>();
    }
    if (v.contains("entries")) {
      if (!v["entries"].is_number_integer()) throw Error(field("entries"), "must be 2 or 3");
      const int64_t e = v["entries"].get<int64_t>();
      if (e < 1 || e > 9) throw Error(field("entries"), "must be 2 or 3");
      s.entries = static_cast<int>(e);
    }
    if (s.format == Format::kPattern) s.ratio = 1.0 - s.entries / 9.0;
    if (v.contains("unit")) {
      if (!v["unit"].is_string()) throw Error(field("unit"), "must be a string");
      s.unit = v["unit"].get<std::string>();
    }
    if ((s.format == Format::kBlock || s.format == Format::kBlockCol || s.format == Format::kCsr) && !v.contains("ratio"))
      throw Error(field("ratio"), "is missing");
    check(s, fw);
    spec.layers[it.key()] = s;
  }
  return spec;
}

SparsitySpec parse_sparsity_spec(const std::string& text) {
  std::error_code ec;
  bool looks_like_file = text.size() > 5 && text.substr(text.size() - 5) == ".json";
  if (looks_like_file || std::filesystem::is_regular_file(text, ec)) {
    return parse_sparsity_json(read_file(text, "cannot open the sparsity file"), text);
  }
  SparsitySpec spec;
  spec.all = parse_layer_spec(text);
  return spec;
}

}  // namespace hilsim::runtime
