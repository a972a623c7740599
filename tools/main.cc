// `hilsim SUBCOMMAND [flags] [args]`. Errors from the library arrive as hilsim::Error and leave as one
// line on stderr with exit code 2; anything else unexpected exits 1.
#include <gflags/gflags.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <list>
#include <set>

#include "command.h"
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
            << "exit codes: 0 ok, 1 the run failed, 2 bad input (the message names the file/node/field)\n";
}

void print_command_help(const Command& c) {
  std::cout << c.usage << "\n";
  if (c.flags.empty()) return;
  std::cout << "\nflags:\n";
  for (const auto& f : c.flags) {
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(f.c_str(), &info)) continue;
    std::cout << "  --" << info.name << " (" << info.type << ", default " << (info.default_value.empty() ? "\"\"" : info.default_value)
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
    std::cout << "hilsim " << HILSIM_VERSION << " (" << HILSIM_GIT_SHA << ")\n";
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
      argv[i] = nullptr;
      owned.push_back(a);
      std::string f = a.substr(lead);
      f = f.substr(0, f.find('='));
      std::string base = f.rfind("no", 0) == 0 && !allowed.count(f) ? f.substr(2) : f;
      if (!allowed.count(f) && !allowed.count(base)) {
        std::cerr << "hilsim " << name << ": unknown flag '--" << f << "' (see `hilsim " << name << " --help`)\n";
        return kExitBadInput;
      }
    }
    args.push_back(argv[i] ? argv[i] : owned.back().data());
  }
  int n = static_cast<int>(args.size());
  char** av = args.data();
  gflags::SetUsageMessage("see `hilsim --help`");
  gflags::ParseCommandLineNonHelpFlags(&n, &av, /*remove_flags=*/true);
  std::vector<std::string> positional(av + 1, av + n);
  try {
    return cmd->run(positional);
  } catch (const hilsim::Error& e) {
    std::cerr << "hilsim " << name << ": " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "hilsim " << name << ": failed: " << e.what() << "\n";
    return kExitFailed;
  }
}
