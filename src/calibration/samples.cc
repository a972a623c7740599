#include "hilsim/calibration/samples.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/json_parse.h"

namespace hilsim::calibration {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& what) {
  throw Error(where + ": field '" + field + "'", what);
}

double number(const json& j, const std::string& where, const std::string& field) {
  if (!j.is_number()) bad(where, field, "must be a number");
  double d = j.get<double>();
  if (!std::isfinite(d) || d < 0) bad(where, field, "must be a finite number >= 0");
  return d;
}

}  // namespace

SampleSet parse_samples(const std::string& text, const std::string& where) {
  json j = parse_json(text, where);
  if (!j.is_object()) throw Error(where, "a samples file must be a JSON object");
  SampleSet s;
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    bad(where, "schema_version", "is missing or not an integer");
  s.schema_version = j["schema_version"].get<int>();
  if (s.schema_version != 1 && s.schema_version != kSamplesSchemaVersion)
    bad(where, "schema_version", "is " + std::to_string(s.schema_version) + ", this hilsim reads 1 and " +
                                     std::to_string(kSamplesSchemaVersion));
  // Version 1's "kernel_version" named kernels by a hand-kept string, not their sources: it is not read,
  // and such a file's kernels are unknown unless its device block names the digest.
  if (j.contains("note") && j["note"].is_string()) s.note = j["note"].get<std::string>();
  if (j.contains("device")) {
    // The device block has the profile's shape; reuse the profile's checks through a tiny wrapper.
    json p = {{"schema_version", model::kProfileSchemaVersion},
              {"device", j["device"]},
              {"provenance", "measured"},
              {"units", json::array({{{"id", "cpu"}, {"kind", "cpu"}, {"threads", 1}, {"peak_gflops", 1}, {"mem_gbps", 1}}})},
              {"transfer", {{"latency_us", 0}, {"gbps", 1}}},
              {"kernels", json::object()},
              {"energy", {{"source", "estimate"}, {"pj_per_flop", 0}, {"pj_per_byte", 0}, {"static_w", 0}, {"basis", "-"}}}};
    s.device = model::parse_profile(p.dump(), where).device;
  }
  if (j.contains("gpu")) {
    const json& gj = j["gpu"];
    if (!gj.is_object() || !gj.contains("device") || !gj["device"].is_string()) bad(where, "gpu.device", "is missing or not a string");
    s.gpu_device = gj["device"].get<std::string>();
    if (gj.contains("core")) {
      if (!gj["core"].is_number_integer()) bad(where, "gpu.core", "must be an integer");
      s.gpu_core = gj["core"].get<int>();
    }
    // Absent in files written before the gpu features priced waves of work-groups: one unit.
    if (gj.contains("compute_units")) {
      if (!gj["compute_units"].is_number_integer() || gj["compute_units"].get<int64_t>() < 1)
        bad(where, "gpu.compute_units", "must be an integer >= 1");
      s.gpu_compute_units = gj["compute_units"].get<int>();
    }
  }
  if (!j.contains("samples") || !j["samples"].is_array()) bad(where, "samples", "is missing or not an array");
  const json& arr = j["samples"];
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string f = "samples[" + std::to_string(i) + "]";
    const json& e = arr[i];
    if (!e.is_object()) bad(where, f, "must be an object");
    Sample x;
    if (!e.contains("class") || !e["class"].is_string()) bad(where, f + ".class", "is missing or not a string");
    x.klass = e["class"].get<std::string>();
    if (e.contains("instance") && e["instance"].is_string()) x.instance = e["instance"].get<std::string>();
    if (!e.contains("features") || !e["features"].is_object()) bad(where, f + ".features", "is missing or not an object");
    for (auto it = e["features"].begin(); it != e["features"].end(); ++it)
      x.features[it.key()] = number(it.value(), where, f + ".features." + it.key());
    if (!e.contains("ms_median")) bad(where, f + ".ms_median", "is missing");
    x.ms_median = number(e["ms_median"], where, f + ".ms_median");
    x.ms_p10 = e.contains("ms_p10") ? number(e["ms_p10"], where, f + ".ms_p10") : x.ms_median;
    x.ms_p90 = e.contains("ms_p90") ? number(e["ms_p90"], where, f + ".ms_p90") : x.ms_median;
    x.repeats = e.contains("repeats") && e["repeats"].is_number_integer() ? e["repeats"].get<int>() : 0;
    if (e.contains("unit")) {
      if (!e["unit"].is_string() || (e["unit"] != "gpu" && e["unit"] != "")) bad(where, f + ".unit", "must be \"gpu\" or absent");
      x.unit = e["unit"].get<std::string>();
    }
    s.samples.push_back(std::move(x));
  }
  return s;
}

SampleSet load_samples(const std::string& path) {
  return parse_samples(read_file(path, "cannot open the samples file"), path);
}

std::string dump_samples(const SampleSet& s) {
  json j;
  j["schema_version"] = kSamplesSchemaVersion;
  if (!s.note.empty()) j["note"] = s.note;
  if (!s.gpu_device.empty()) j["gpu"] = {{"device", s.gpu_device}, {"core", s.gpu_core}, {"compute_units", s.gpu_compute_units}};
  model::Profile p;
  p.device = s.device;
  j["device"] = json::parse(model::dump_profile(p))["device"];
  j["samples"] = json::array();
  for (const auto& x : s.samples) {
    j["samples"].push_back({{"class", x.klass}, {"instance", x.instance}, {"features", x.features},
                            {"ms_median", x.ms_median}, {"ms_p10", x.ms_p10}, {"ms_p90", x.ms_p90},
                            {"repeats", x.repeats}});
    if (!x.unit.empty()) j["samples"].back()["unit"] = x.unit;
  }
  return j.dump(1) + "\n";
}

void save_samples(const SampleSet& s, const std::string& path) {
  write_file_replacing(path, dump_samples(s), "the samples file");
}

std::string samples_kernels_mismatch(const SampleSet& s, const std::string& build_kernels) {
  if (s.device.kernels == build_kernels) return "";
  if (s.device.kernels.empty())
    return "measured with unknown kernels (the file predates the kernels digest) and this build runs (" + build_kernels + ")";
  return "measured with other kernels (" + s.device.kernels + ") than this build runs (" + build_kernels + ")";
}

}  // namespace hilsim::calibration
