// Chrome / Perfetto trace-event JSON ("X" complete events, one track per unit), written the same way
// for a predicted timeline and a measured run so the two open side by side in ui.perfetto.dev.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hilsim {

struct TraceEvent {
  std::string name;
  std::string category;  // "kernel", "transfer", ...
  std::string track;     // the unit, e.g. "cpu0"
  double start_us = 0;
  double dur_us = 0;
  std::map<std::string, std::string> args;
};

// One JSON object: {"traceEvents":[...], "displayTimeUnit":"ms", "metadata":{...}}.
std::string trace_json(const std::vector<TraceEvent>& events, const std::string& process_name,
                       const std::map<std::string, std::string>& metadata = {});
void write_trace(const std::string& path, const std::vector<TraceEvent>& events, const std::string& process_name,
                 const std::map<std::string, std::string>& metadata = {});

}  // namespace hilsim
