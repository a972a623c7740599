#include "hilsim/util/trace.h"

#include <fstream>
#include <sstream>

#include "hilsim/util/error.h"

namespace hilsim {

namespace {

// Minimal JSON string escaping: this unit sits below the JSON library's users (kernels build).
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o + "\"";
}

}  // namespace

std::string trace_json(const std::vector<TraceEvent>& events, const std::string& process_name,
                       const std::map<std::string, std::string>& metadata) {
  // Tracks become thread ids in order of first appearance, each named by a metadata event.
  std::map<std::string, int> tid;
  std::vector<std::string> order;
  for (const auto& e : events)
    if (tid.emplace(e.track, static_cast<int>(tid.size()) + 1).second) order.push_back(e.track);
  std::ostringstream os;
  os.precision(3);
  os << std::fixed << "{\"traceEvents\":[\n";
  os << "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":" << quote(process_name) << "}}";
  for (const auto& t : order)
    os << ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":" << tid[t] << ",\"name\":\"thread_name\",\"args\":{\"name\":" << quote(t)
       << "}}";
  for (const auto& e : events) {
    os << ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":" << tid[e.track] << ",\"name\":" << quote(e.name)
       << ",\"cat\":" << quote(e.category.empty() ? "kernel" : e.category) << ",\"ts\":" << e.start_us
       << ",\"dur\":" << e.dur_us;
    if (!e.args.empty()) {
      os << ",\"args\":{";
      bool first = true;
      for (const auto& [k, v] : e.args) {
        os << (first ? "" : ",") << quote(k) << ":" << quote(v);
        first = false;
      }
      os << "}";
    }
    os << "}";
  }
  os << "\n],\"displayTimeUnit\":\"ms\",\"metadata\":{";
  bool first = true;
  for (const auto& [k, v] : metadata) {
    os << (first ? "" : ",") << quote(k) << ":" << quote(v);
    first = false;
  }
  os << "}}\n";
  return os.str();
}

void write_trace(const std::string& path, const std::vector<TraceEvent>& events, const std::string& process_name,
                 const std::map<std::string, std::string>& metadata) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path, "cannot write the trace file");
  out << trace_json(events, process_name, metadata);
  if (!out) throw Error(path, "write failed");
}

}  // namespace hilsim
