// `hilsim SUBCOMMAND [flags] [args]`. Errors from the library arrive as hilsim::Error and leave as one
// line on stderr with exit code 2; anything else unexpected exits 1.
#include <gflags/gflags.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <list>
#include <set>
#include <unistd.h>

#include "command.h"
#include "common_flags.h"
#include "hilsim/util/error.h"
#include "hilsim/build_id.h"
#include "hilsim/version.h"

namespace hilsim::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

namespace {

void print_overview() {
  auto cmds = registry();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  std::cout << "hilsim " << HILSIM_VERSION << " — latency, memory and energy of pruned CNNs on real devices\n\n"
            << "usage: hilsim COMMAND [flags] [args]\n\ncommands:\n";
  for (const auto& c : cmds) {
    std::cout << "  " << c.name << std::string(c.name.size() < 16 ? 16 - c.name.size() : 1, ' ') << c.summary
              << "\n";
  }
  std::cout << "\n`hilsim COMMAND --help` explains one command and its flags.\n"
            << "exit codes: 0 ok, 1 the run failed, 2 bad input (the message names the file/node/field/flag), 130 interrupted\n";
}

extern "C" void on_interrupt(int) { _exit(kExitInterrupted); }

// An error raised with the command's name as its place ("run: expects one MODEL") under the line's
// own "hilsim run: " prefix would name the command twice.
std::string without_prefix(const std::string& what, const std::string& name) {
  return what.rfind(name + ": ", 0) == 0 ? what.substr(name.size() + 2) : what;
}

// The flag as the user spells it in messages: --input-shape, not gflags' --input_shape.
std::string dashed(std::string f) {
  std::replace(f.begin(), f.end(), '_', '-');
  return "--" + f;
}

// Why `value` is no value of a flag of gflags type `type` ("" when it is one). `negated`: the --noFLAG
// spelling, which takes no value.
std::string check_flag_value(const std::string& type, const std::string& value, bool negated) {
  if (negated) return "takes no value";
  if (type == "bool") {
    static const std::set<std::string> ok{"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"};
    return ok.count(value) ? "" : "expects true or false";
  }
  if (type == "string") return "";
  errno = 0;
  char* end = nullptr;
  if (type == "double") {
    const double d = std::strtod(value.c_str(), &end);
    return !value.empty() && *end == 0 && errno == 0 && std::isfinite(d) ? "" : "expects a number";
  }
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != 0 || errno != 0) return "expects an integer";
  if (type == "int32" && (v < INT32_MIN || v > INT32_MAX)) return "expects an integer that fits 32 bits";
  if ((type == "uint32" || type == "uint64") && v < 0) return "expects an integer >= 0";
  return "";
}

// A flag's default as a user would write it: gflags prints doubles at full precision (0.95 came out
// as 0.94999999999999996).
std::string readable_default(const gflags::CommandLineFlagInfo& info) {
  if (info.default_value.empty()) return "\"\"";
  if (info.type == "double") {
    char b[32];
    std::snprintf(b, sizeof b, "%g", std::strtod(info.default_value.c_str(), nullptr));
    return b;
  }
  return info.default_value;
}

void print_command_help(const Command& c) {
  std::cout << c.usage << "\n";
  if (c.flags.empty()) return;
  std::cout << "\nflags (--a-b and --a_b are the same flag):\n";
  for (const auto& f : c.flags) {
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(f.c_str(), &info)) continue;
    // The spelling the usage lines use: dashes.
    std::cout << "  " << dashed(info.name) << " (" << info.type << ", default " << readable_default(info)
              << ")\n      " << info.description << "\n";
  }
}

}  // namespace
}  // namespace hilsim::cli

int main(int argc, char** argv) {
  using namespace hilsim::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_overview();
    return argc < 2 ? kExitBadInput : kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "hilsim " << HILSIM_VERSION << " (" << HILSIM_GIT_SHA << ", kernels " << HILSIM_KERNELS_FINGERPRINT << ")\n";
    return kExitOk;
  }
  std::string name = argv[1];
  const Command* cmd = nullptr;
  for (const auto& c : registry())
    if (c.name == name) cmd = &c;
  if (!cmd) {
    std::cerr << "hilsim: unknown command '" << name << "' (see `hilsim --help`)\n";
    return kExitBadInput;
  }

  // Check flags ourselves: gflags would exit 1 on an unknown flag and accept another command's flags.
  std::set<std::string> allowed(cmd->flags.begin(), cmd->flags.end());
  std::vector<char*> args{argv[0]};
  std::list<std::string> owned;  // rewritten flag spellings; a list keeps their addresses stable
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_command_help(*cmd);
      return kExitOk;
    }
    if (a == "--") {
      for (; i < argc; ++i) args.push_back(argv[i]);
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      // Accept --input-shape as well as gflags' --input_shape.
      const size_t lead = a[1] == '-' ? 2 : 1;
      const size_t eq = a.find('=');
      for (size_t j = lead; j < std::min(eq, a.size()); ++j)
        if (a[j] == '-') a[j] = '_';
      std::string f = a.substr(lead);
      f = f.substr(0, f.find('='));
      std::string base = f.rfind("no", 0) == 0 && !allowed.count(f) ? f.substr(2) : f;
      if (!allowed.count(f) && !allowed.count(base)) {
        // Another command's flag is named as such: `run --allow-unknown` cannot run an op it does not know.
        gflags::CommandLineFlagInfo other;
        const bool elsewhere =
            gflags::GetCommandLineFlagInfo(base.c_str(), &other) || gflags::GetCommandLineFlagInfo(f.c_str(), &other);
        std::cerr << "hilsim " << name << ": " << (elsewhere ? "'" + dashed(f) + "' is not a flag of " + name
                                                             : "unknown flag '" + dashed(f) + "'")
                  << " (see `hilsim " << name << " --help`)\n";
        return kExitBadInput;
      }
      gflags::CommandLineFlagInfo info;
      const std::string known = allowed.count(f) ? f : base;
      if (!gflags::GetCommandLineFlagInfo(known.c_str(), &info) || (known != f && info.type != "bool")) {
        std::cerr << "hilsim " << name << ": unknown flag '" << dashed(f) << "'\n";
        return kExitBadInput;
      }
      // A flag that takes a value takes the next argument whatever it looks like ("--threads -1" is the
      // value -1, not a flag "-1"), and the value is checked here: gflags would exit 1 with its own text.
      std::string value;
      bool has_value = eq != std::string::npos;
      if (has_value) value = a.substr(eq + 1);
      if (info.type != "bool" && !has_value) {
        if (i + 1 >= argc) {
          std::cerr << "hilsim " << name << ": flag '" << dashed(f) << "' needs a value\n";
          return kExitBadInput;
        }
        value = argv[++i];
        has_value = true;
        a = a.substr(0, lead) + f + "=" + value;
      }
      if (has_value) {
        const std::string why = check_flag_value(info.type, known == f ? value : "", known != f);
        if (!why.empty()) {
          std::cerr << "hilsim " << name << ": flag '" << dashed(f) << "' " << why << ", got '" << value << "'\n";
          return kExitBadInput;
        }
      }
      owned.push_back(a);
      args.push_back(owned.back().data());
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  char** av = args.data();
  gflags::SetUsageMessage("see `hilsim --help`");
  gflags::ParseCommandLineNonHelpFlags(&n, &av, /*remove_flags=*/true);
  std::vector<std::string> positional(av + 1, av + n);
  if (allowed.count("json") && FLAGS_json) route_stdout_for_json();
  // Interrupted is its own outcome (130, as a shell reports it), whatever a command was doing; a
  // command that stops cleanly on Ctrl-C (calibrate) installs its own handler.
  std::signal(SIGINT, on_interrupt);
  try {
    return cmd->run(positional);
  } catch (const hilsim::Error& e) {
    std::cerr << "hilsim " << name << ": " << without_prefix(e.what(), name) << "\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "hilsim " << name << ": failed: " << without_prefix(e.what(), name) << "\n";
    return kExitFailed;
  }
}
