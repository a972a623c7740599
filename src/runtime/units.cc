#include "hilsim/runtime/units.h"

#include <set>
#include <sstream>

#include "hilsim/kernels/thread_pool.h"
#include "hilsim/util/error.h"

namespace hilsim::runtime {

namespace {

int core_number(const std::string& t, const std::string& where) {
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos)
    throw Error(where, "'" + t + "' is not a core number");
  return std::stoi(t);
}

}  // namespace

std::vector<UnitDef> parse_units(const std::string& spec, int available) {
  if (available <= 0) available = kernels::ThreadPool::hardware_threads();
  std::string where = "units spec '" + spec + "'";
  std::vector<UnitDef> units;
  std::set<std::string> ids;
  std::set<int> used;
  std::string s = spec;
  for (char& c : s)
    if (c == ';') c = ',';
  // Split on commas that start a new "id:" (a core list "0,1" inside a unit is written as 0-1).
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part.empty()) continue;
    auto colon = part.find(':');
    const bool gpu = part.rfind("gpu", 0) == 0;
    if (gpu && colon == std::string::npos) {
      // A gpu unit without cores: its host thread is not pinned.
      UnitDef u;
      u.id = part;
      u.kind = "gpu";
      if (!ids.insert(u.id).second) throw Error(where, "unit '" + u.id + "' is listed twice");
      units.push_back(u);
      continue;
    }
    if (colon == std::string::npos || colon == 0) throw Error(where, "'" + part + "' must look like NAME:CORES, e.g. cpu0:0 (or gpu, gpu:CORES for the OpenCL device)");
    UnitDef u;
    u.id = part.substr(0, colon);
    if (gpu) u.kind = "gpu";
    if (!ids.insert(u.id).second) throw Error(where, "unit '" + u.id + "' is listed twice");
    std::string cores = part.substr(colon + 1);
    auto dash = cores.find('-');
    int lo = core_number(cores.substr(0, dash), where);
    int hi = dash == std::string::npos ? lo : core_number(cores.substr(dash + 1), where);
    if (hi < lo) throw Error(where, "core range '" + cores + "' is reversed");
    for (int c = lo; c <= hi; ++c) {
      if (c >= available)
        throw Error(where, "unit '" + u.id + "' wants core " + std::to_string(c) + " but this machine has " +
                               std::to_string(available) + " (cores 0-" + std::to_string(available - 1) + ")");
      if (!used.insert(c).second) throw Error(where, "core " + std::to_string(c) + " is given to two units");
      u.cpus.push_back(c);
    }
    units.push_back(u);
  }
  if (units.empty()) throw Error(where, "names no unit");
  int gpus = 0;
  for (const auto& u : units) gpus += u.kind == "gpu";
  if (gpus > 1) throw Error(where, "names " + std::to_string(gpus) + " gpu units; one OpenCL device is driven at a time");
  return units;
}

}  // namespace hilsim::runtime
