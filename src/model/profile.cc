#include "hilsim/model/profile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "hilsim/model/kernel_features.h"
#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/json_parse.h"

namespace hilsim::model {

int64_t last_level_cache_bytes(const std::vector<CacheLevel>& caches) {
  int64_t b = 0;
  for (const auto& c : caches) b = std::max(b, c.bytes);
  return b;
}

using nlohmann::json;

const UnitSpec* Profile::unit(const std::string& id) const {
  for (const auto& u : units)
    if (u.id == id) return &u;
  return nullptr;
}

namespace {

constexpr double kOneDayMs = 86400e3;

// Walks the JSON with a field path so every error names exactly what is wrong.
class Reader {
 public:
  Reader(const std::string& where) : where_(where) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(where_ + ": field '" + path + "'", what);
  }

  const json& field(const json& obj, const std::string& path, const char* key) const {
    if (!obj.is_object()) fail(path, "must be an object");
    auto it = obj.find(key);
    if (it == obj.end()) fail(join(path, key), "is missing");
    return *it;
  }
  const json* optional(const json& obj, const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  std::string str(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_string()) fail(join(path, key), "must be a string");
    return v.get<std::string>();
  }
  std::string str_or(const json& obj, const std::string& path, const char* key, const std::string& d) const {
    const json* v = optional(obj, key);
    if (!v) return d;
    if (!v->is_string()) fail(join(path, key), "must be a string");
    return v->get<std::string>();
  }
  double num(const json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "must be a number");
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(path, "must be finite");
    return d;
  }
  double nonneg(const json& obj, const std::string& path, const char* key) const {
    double d = num(field(obj, path, key), join(path, key));
    if (d < 0) fail(join(path, key), "must be >= 0 (got " + std::to_string(d) + ")");
    return d;
  }
  double nonneg_or(const json& obj, const std::string& path, const char* key, double d) const {
    return optional(obj, key) ? nonneg(obj, path, key) : d;
  }
  double positive(const json& obj, const std::string& path, const char* key) const {
    double d = num(field(obj, path, key), join(path, key));
    if (d <= 0) fail(join(path, key), "must be > 0 (got " + std::to_string(d) + ")");
    return d;
  }
  int64_t integer(const json& obj, const std::string& path, const char* key, int64_t min) const {
    const json& v = field(obj, path, key);
    if (!v.is_number_integer()) fail(join(path, key), "must be an integer");
    int64_t i = v.get<int64_t>();
    if (i < min) fail(join(path, key), "must be >= " + std::to_string(min));
    return i;
  }
  const json& array(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_array()) fail(join(path, key), "must be an array");
    return v;
  }
  std::vector<std::string> strings(const json& obj, const std::string& path, const char* key) const {
    std::vector<std::string> r;
    const json* v = optional(obj, key);
    if (!v) return r;
    if (!v->is_array()) fail(join(path, key), "must be an array of strings");
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) fail(join(path, key) + "[" + std::to_string(i) + "]", "must be a string");
      r.push_back((*v)[i].get<std::string>());
    }
    return r;
  }
  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string where_;
};

void one_of(const Reader& r, const std::string& path, const std::string& v, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return;
    list += std::string(list.empty() ? "" : ", ") + a;
  }
  r.fail(path, "is '" + v + "', must be one of: " + list);
}

}  // namespace

Profile parse_profile(const std::string& text, const std::string& where) {
  json j = parse_json(text, where);
  Reader r(where);
  if (!j.is_object()) r.fail("", "the profile must be a JSON object");
  Profile p;
  p.schema_version = static_cast<int>(r.integer(j, "", "schema_version", 0));
  if (p.schema_version != kProfileSchemaVersion)
    r.fail("schema_version", "is " + std::to_string(p.schema_version) + ", this hilsim reads version " +
                                 std::to_string(kProfileSchemaVersion));

  const json& d = r.field(j, "", "device");
  p.device.name = r.str(d, "device", "name");
  p.device.cpu_model = r.str(d, "device", "cpu_model");
  p.device.cores = static_cast<int>(r.integer(d, "device", "cores", 1));
  p.device.os = r.str(d, "device", "os");
  p.device.calibrated_at = r.str_or(d, "device", "calibrated_at", "");
  p.device.hilsim_version = r.str_or(d, "device", "hilsim_version", "");
  p.device.git_sha = r.str_or(d, "device", "git_sha", "");
  p.device.kernels = r.str_or(d, "device", "kernels", "");
  p.device.governor = r.str_or(d, "device", "governor", "unknown");
  p.device.isa = r.strings(d, "device", "isa");
  if (const json* sr = r.optional(d, "speed_reference")) {
    SpeedReference& x = p.device.speed_reference;
    x.workload = r.str(*sr, "device.speed_reference", "workload");
    if (x.workload.empty()) r.fail("device.speed_reference.workload", "must name the timed workload");
    x.ms = r.positive(*sr, "device.speed_reference", "ms");
    x.spread = r.nonneg(*sr, "device.speed_reference", "spread");
    x.drift = r.num(r.field(*sr, "device.speed_reference", "drift"), "device.speed_reference.drift");
    if (const json* par = r.optional(*sr, "parallel")) {
      if (!par->is_object()) r.fail("device.speed_reference.parallel", "must be an object {threads, ms}");
      x.parallel_threads = static_cast<int>(r.integer(*par, "device.speed_reference.parallel", "threads", 2));
      x.parallel_ms = r.positive(*par, "device.speed_reference.parallel", "ms");
    }
  }
  const json& caches = r.array(d, "device", "caches");
  for (size_t i = 0; i < caches.size(); ++i) {
    std::string path = "device.caches[" + std::to_string(i) + "]";
    CacheLevel c;
    c.level = static_cast<int>(r.integer(caches[i], path, "level", 1));
    c.bytes = r.integer(caches[i], path, "bytes", 1);
    c.type = r.str_or(caches[i], path, "type", "data");
    if (const json* s = r.optional(caches[i], "shared")) {
      if (!s->is_boolean()) r.fail(path + ".shared", "must be true or false");
      c.shared = s->get<bool>();
    }
    p.device.caches.push_back(c);
  }

  p.provenance = r.str(j, "", "provenance");
  one_of(r, "provenance", p.provenance, {"measured", "spec"});
  p.provenance_note = r.str_or(j, "", "provenance_note", "");
  p.sources = r.strings(j, "", "sources");
  if (p.provenance == "spec" && p.sources.empty())
    r.fail("sources", "a spec profile must list the public sources its figures come from");

  const json& units = r.array(j, "", "units");
  if (units.empty()) r.fail("units", "must list at least one unit");
  std::set<std::string> ids;
  for (size_t i = 0; i < units.size(); ++i) {
    std::string path = "units[" + std::to_string(i) + "]";
    UnitSpec u;
    u.id = r.str(units[i], path, "id");
    if (!ids.insert(u.id).second) r.fail(path + ".id", "duplicate unit id '" + u.id + "'");
    u.kind = r.str(units[i], path, "kind");
    one_of(r, path + ".kind", u.kind, {"cpu", "gpu"});
    u.threads = static_cast<int>(r.integer(units[i], path, "threads", 1));
    u.peak_gflops = r.positive(units[i], path, "peak_gflops");
    // A fit at more threads than the unit has cores measured time-slicing, not the unit.
    if (u.kind == "cpu" && u.threads > p.device.cores)
      r.fail(path + ".threads", "is " + std::to_string(u.threads) + ", more than the device's " +
                                    std::to_string(p.device.cores) + " cores");
    u.mem_gbps = r.positive(units[i], path, "mem_gbps");
    if (const json* c = r.optional(units[i], "cpus")) {
      if (!c->is_array()) r.fail(path + ".cpus", "must be an array of core numbers");
      for (size_t k = 0; k < c->size(); ++k) {
        if (!(*c)[k].is_number_integer() || (*c)[k].get<int64_t>() < 0 || (*c)[k].get<int64_t>() >= p.device.cores)
          r.fail(path + ".cpus[" + std::to_string(k) + "]",
                 "must be a core number in 0.." + std::to_string(p.device.cores - 1) + " (device.cores)");
        u.cpus.push_back((*c)[k].get<int>());
      }
      if (u.kind == "cpu" && !u.cpus.empty() && u.threads > static_cast<int>(u.cpus.size()))
        r.fail(path + ".threads", "is " + std::to_string(u.threads) + ", more than the unit's " +
                                      std::to_string(u.cpus.size()) + " cores (cpus)");
    }
    u.device = r.str_or(units[i], path, "device", "");
    // Absent in profiles written before the gpu models priced waves of work-groups: one unit.
    if (r.optional(units[i], "compute_units")) {
      if (u.kind != "gpu") r.fail(path + ".compute_units", "only a gpu unit has compute units");
      u.compute_units = static_cast<int>(r.integer(units[i], path, "compute_units", 1));
    }
    if (r.optional(units[i], "corun_share")) {
      if (u.kind != "gpu") r.fail(path + ".corun_share", "only a gpu unit has a co-run share of its own");
      u.corun_share = r.nonneg(units[i], path, "corun_share");
    }
    if (const json* h = r.optional(units[i], "host_transfer")) {
      const std::string hp = path + ".host_transfer";
      if (u.kind != "gpu") r.fail(hp, "only a gpu unit has copies to and from host memory");
      u.host_transfer.latency_us = r.nonneg(*h, hp, "latency_us");
      u.host_transfer.gbps = r.positive(*h, hp, "gbps");
      u.host_transfer.sync_us = r.nonneg_or(*h, hp, "sync_us", 0);
      u.host_transfer.source = r.str_or(*h, hp, "source", "unrecorded");
      one_of(r, hp + ".source", u.host_transfer.source, {"measured", "assumed", "spec", "unrecorded"});
      u.host_transfer.basis = r.str_or(*h, hp, "basis", "");
    }
    p.units.push_back(u);
  }

  const json& t = r.field(j, "", "transfer");
  p.transfer.latency_us = r.nonneg(t, "transfer", "latency_us");
  p.transfer.gbps = r.positive(t, "transfer", "gbps");
  p.transfer.sync_us = r.nonneg_or(t, "transfer", "sync_us", 0);
  p.transfer.source = r.str_or(t, "transfer", "source", "unrecorded");
  one_of(r, "transfer.source", p.transfer.source, {"measured", "assumed", "spec", "unrecorded"});
  p.transfer.basis = r.str_or(t, "transfer", "basis", "");

  const json& ks = r.field(j, "", "kernels");
  if (!ks.is_object()) r.fail("kernels", "must be an object mapping kernel class to its model");
  for (auto it = ks.begin(); it != ks.end(); ++it) {
    std::string path = "kernels." + it.key();
    const json& k = it.value();
    // A class no instance is ever given would be silently ignored: the ops of that class then fall back to
    // another thread count or the roofline, and the profile's author never learns the key was wrong.
    std::string klass = it.key();
    int key_threads = 0;
    const bool gpu_key = split_gpu_profile_key(it.key(), &klass);
    if (!gpu_key && klass.find('/') != std::string::npos && !model::split_profile_key(klass, &klass, &key_threads))
      r.fail(path, "is not CLASS, CLASS/tTHREADS or CLASS/gpu");
    if (!model::is_known_class(klass)) r.fail(path, "names kernel class '" + klass + "', which hilsim does not have");
    KernelModel m;
    m.model = r.str(k, path, "model");
    one_of(r, path + ".model", m.model, {"linear"});
    m.unit = r.str_or(k, path, "unit", "cpu");
    bool unit_known = false;
    for (const UnitSpec& u : p.units) unit_known = unit_known || u.id == m.unit || u.kind == m.unit;
    if (!unit_known) r.fail(path + ".unit", "is '" + m.unit + "', which is no unit (id or kind) of this profile");
    // A CLASS/gpu model was fitted on the gpu unit: it must say so, and the profile must have one.
    if (gpu_key && m.unit != "gpu") r.fail(path + ".unit", "is '" + m.unit + "', but a CLASS/gpu model is of the gpu unit");
    m.features = r.strings(k, path, "features");
    const json& ps = r.array(k, path, "params");
    if (ps.size() != m.features.size())
      r.fail(path + ".params", "has " + std::to_string(ps.size()) + " values for " +
                                   std::to_string(m.features.size()) + " features");
    for (size_t i = 0; i < ps.size(); ++i) {
      double v = r.num(ps[i], path + ".params[" + std::to_string(i) + "]");
      // Every term is a physical cost (time per MAC, per byte, per call): a negative one is a bad fit.
      if (v < 0) r.fail(path + ".params[" + std::to_string(i) + "]", "must be >= 0 (a cost cannot be negative)");
      m.params.push_back(v);
    }
    m.samples = static_cast<int>(r.integer(k, path, "samples", 0));
    m.fit_rmspe = r.nonneg(k, path, "fit_rmspe");
    if (k.contains("drift_exponent")) {
      m.drift_exponent = r.nonneg(k, path, "drift_exponent");
      if (m.drift_exponent > 2) r.fail(path + ".drift_exponent", "must be in [0, 2]");
    }
    if (const json* vr = r.optional(k, "valid_range")) {
      if (!vr->is_object()) r.fail(path + ".valid_range", "must map feature names to [min, max]");
      for (auto f = vr->begin(); f != vr->end(); ++f) {
        std::string fp = path + ".valid_range." + f.key();
        if (!f->is_array() || f->size() != 2) r.fail(fp, "must be [min, max]");
        double lo = r.num((*f)[0], fp + "[0]"), hi = r.num((*f)[1], fp + "[1]");
        if (lo > hi) r.fail(fp, "min is greater than max");
        m.valid_range[f.key()] = {lo, hi};
      }
    }
    // Physical bounds: every term is time per unit of a feature, so one feature at the top of its
    // calibrated range (1 where no range is given) must cost less than a day and stay finite; a
    // coefficient past that answers 1e142 ms for a small conv instead of failing here.
    for (size_t i = 0; i < m.params.size(); ++i) {
      auto vr = m.valid_range.find(m.features[i]);
      const double hi = vr != m.valid_range.end() ? std::max(1.0, std::fabs(vr->second.second)) : 1.0;
      const double ms = m.params[i] * hi;
      if (!std::isfinite(ms) || ms > kOneDayMs)
        r.fail(path + ".params[" + std::to_string(i) + "]",
               "is " + std::to_string(m.params[i]) + " ms per " + (i < m.features.size() ? m.features[i] : "unit") +
                   ": one op in the valid range would take more than a day");
    }
    p.kernels[it.key()] = m;
  }

  const json& e = r.field(j, "", "energy");
  p.energy.source = r.str(e, "energy", "source");
  one_of(r, "energy.source", p.energy.source, {"rapl", "sysfs", "ina", "nvml", "estimate"});
  p.energy.pj_per_flop = r.nonneg(e, "energy", "pj_per_flop");
  p.energy.pj_per_byte = r.nonneg(e, "energy", "pj_per_byte");
  p.energy.pj_per_byte_cache = r.optional(e, "pj_per_byte_cache") ? r.nonneg(e, "energy", "pj_per_byte_cache") : 0.0;
  p.energy.static_w = r.nonneg(e, "energy", "static_w");
  // Bounds far above any chip (a phone SoC: ~1-100 pJ/FLOP and /byte, a few W; a server: a few hundred W),
  // so only a corrupted figure trips them and no answer reads "inf mJ".
  for (auto [key, v, max] : {std::tuple<const char*, double, double>{"pj_per_flop", p.energy.pj_per_flop, 1e6},
                             {"pj_per_byte", p.energy.pj_per_byte, 1e6},
                             {"pj_per_byte_cache", p.energy.pj_per_byte_cache, 1e6},
                             {"static_w", p.energy.static_w, 1e5}})
    if (v > max) r.fail(std::string("energy.") + key, "is " + std::to_string(v) + ", above the physical bound " + std::to_string(max));
  p.energy.basis = r.str_or(e, "energy", "basis", "");
  if (p.energy.source == "estimate" && p.energy.basis.empty())
    r.fail("energy.basis", "an estimated energy model must say what the estimate is based on");
  return p;
}

double drift_exponent(const Profile& p) {
  double e = -1;
  for (const auto& [key, m] : p.kernels) e = std::max(e, m.drift_exponent);
  return e;
}

std::string gpu_profile_key(const std::string& klass) { return klass + "/gpu"; }

bool split_gpu_profile_key(const std::string& key, std::string* klass) {
  static const std::string kSuffix = "/gpu";
  if (key.size() <= kSuffix.size() || key.compare(key.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) return false;
  *klass = key.substr(0, key.size() - kSuffix.size());
  return true;
}

Profile load_profile(const std::string& path) {
  return parse_profile(read_file(path, "cannot open the profile (missing file or no permission)"), path);
}

std::string dump_profile(const Profile& p) {
  json j;
  j["schema_version"] = p.schema_version;
  json d;
  d["name"] = p.device.name;
  d["cpu_model"] = p.device.cpu_model;
  d["cores"] = p.device.cores;
  d["os"] = p.device.os;
  d["calibrated_at"] = p.device.calibrated_at;
  d["hilsim_version"] = p.device.hilsim_version;
  d["git_sha"] = p.device.git_sha;
  if (!p.device.kernels.empty()) d["kernels"] = p.device.kernels;
  d["governor"] = p.device.governor;
  d["isa"] = p.device.isa;
  if (!p.device.speed_reference.workload.empty())
    d["speed_reference"] = {{"workload", p.device.speed_reference.workload}, {"ms", p.device.speed_reference.ms},
                            {"spread", p.device.speed_reference.spread}, {"drift", p.device.speed_reference.drift}};
  if (p.device.speed_reference.parallel_threads > 1)
    d["speed_reference"]["parallel"] = {{"threads", p.device.speed_reference.parallel_threads},
                                        {"ms", p.device.speed_reference.parallel_ms}};
  d["caches"] = json::array();
  for (const auto& c : p.device.caches)
    d["caches"].push_back({{"level", c.level}, {"type", c.type}, {"bytes", c.bytes}, {"shared", c.shared}});
  j["device"] = d;
  j["provenance"] = p.provenance;
  if (!p.provenance_note.empty()) j["provenance_note"] = p.provenance_note;
  j["sources"] = p.sources;
  j["units"] = json::array();
  for (const auto& u : p.units) {
    json ju{{"id", u.id}, {"kind", u.kind}, {"threads", u.threads}, {"peak_gflops", u.peak_gflops}, {"mem_gbps", u.mem_gbps}};
    if (!u.cpus.empty()) ju["cpus"] = u.cpus;
    if (!u.device.empty()) ju["device"] = u.device;
    if (u.kind == "gpu") ju["compute_units"] = u.compute_units;
    if (u.kind == "gpu" && u.corun_share >= 0) ju["corun_share"] = u.corun_share;
    if (u.host_transfer.gbps > 0) {
      ju["host_transfer"] = {{"latency_us", u.host_transfer.latency_us}, {"gbps", u.host_transfer.gbps},
                             {"source", u.host_transfer.source}};
      if (u.host_transfer.sync_us > 0) ju["host_transfer"]["sync_us"] = u.host_transfer.sync_us;
      if (!u.host_transfer.basis.empty()) ju["host_transfer"]["basis"] = u.host_transfer.basis;
    }
    j["units"].push_back(ju);
  }
  j["transfer"] = {{"latency_us", p.transfer.latency_us}, {"gbps", p.transfer.gbps}, {"source", p.transfer.source}};
  if (p.transfer.sync_us > 0) j["transfer"]["sync_us"] = p.transfer.sync_us;
  if (!p.transfer.basis.empty()) j["transfer"]["basis"] = p.transfer.basis;
  j["kernels"] = json::object();
  for (const auto& [k, m] : p.kernels) {
    json jm{{"model", m.model}, {"unit", m.unit}, {"features", m.features}, {"params", m.params},
            {"samples", m.samples}, {"fit_rmspe", m.fit_rmspe}};
    if (m.drift_exponent >= 0) jm["drift_exponent"] = m.drift_exponent;
    jm["valid_range"] = json::object();
    for (const auto& [f, r] : m.valid_range) jm["valid_range"][f] = {r.first, r.second};
    j["kernels"][k] = jm;
  }
  j["energy"] = {{"source", p.energy.source}, {"pj_per_flop", p.energy.pj_per_flop},
                 {"pj_per_byte", p.energy.pj_per_byte}, {"pj_per_byte_cache", p.energy.pj_per_byte_cache},
                 {"static_w", p.energy.static_w}, {"basis", p.energy.basis}};
  return j.dump(2) + "\n";
}

void save_profile(const Profile& p, const std::string& path) {
  write_file_replacing(path, dump_profile(p), "the profile");
}

namespace {

std::string cache_label(const CacheLevel& c) {
  return "L" + std::to_string(c.level) + (c.type == "data" ? "d" : c.type == "unified" ? "" : " " + c.type);
}

std::string size_label(int64_t bytes) {
  char b[32];
  if (bytes >= (int64_t{1} << 20) && bytes % (int64_t{1} << 20) == 0)
    std::snprintf(b, sizeof b, "%lld MiB", static_cast<long long>(bytes >> 20));
  else
    std::snprintf(b, sizeof b, "%lld KiB", static_cast<long long>(bytes >> 10));
  return b;
}

}  // namespace

std::vector<DeviceMismatch> device_mismatches(const DeviceInfo& profiled, const DeviceInfo& here) {
  using Kind = DeviceMismatch::Kind;
  std::vector<DeviceMismatch> out;
  // Only the extensions the kernels dispatch on: a flag list differing in, say, sse4a changes nothing.
  static const char* kDispatch[] = {"avx512f", "avx2", "fma", "neon", "asimd"};
  auto has = [](const DeviceInfo& d, const char* f) { return std::find(d.isa.begin(), d.isa.end(), f) != d.isa.end(); };
  for (const char* f : kDispatch)
    if (has(profiled, f) != has(here, f))
      out.push_back({Kind::kIsa, std::string(f) + (has(profiled, f) ? " in the profile, not here" : " here, not in the profile")});
  if (profiled.cores != here.cores)
    out.push_back({Kind::kCores, std::to_string(profiled.cores) + " cores in the profile, " + std::to_string(here.cores) + " here"});
  for (const CacheLevel& c : profiled.caches) {
    if (c.type == "instruction") continue;
    const CacheLevel* h = nullptr;
    for (const CacheLevel& o : here.caches)
      if (o.level == c.level && o.type == c.type) h = &o;
    if (!h)
      out.push_back({Kind::kCache, cache_label(c) + " cache " + size_label(c.bytes) + " in the profile, none here"});
    else if (h->bytes != c.bytes)
      out.push_back({Kind::kCache, cache_label(c) + " cache " + size_label(c.bytes) + " in the profile, " +
                                       size_label(h->bytes) + " here"});
  }
  if (!profiled.cpu_model.empty() && !here.cpu_model.empty() && profiled.cpu_model != here.cpu_model)
    out.push_back({Kind::kCpuModel, "CPU '" + profiled.cpu_model + "' in the profile, '" + here.cpu_model + "' here"});
  // Same machine, other kernels: the figures describe the kernels that were timed, not these.
  if (!profiled.kernels.empty() && !here.kernels.empty() && profiled.kernels != here.kernels)
    out.push_back({Kind::kKernels, "calibrated with other kernels (" + profiled.kernels + ") than this build runs (" +
                                       here.kernels + ")"});
  return out;
}

}  // namespace hilsim::model
