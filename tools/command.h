// Subcommand registry of the `hilsim` CLI: each tools/<name>.cc registers itself with the flags it
// accepts, so main() can reject a flag that belongs to another command and print focused --help.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace hilsim::cli {

struct Command {
  std::string name;
  std::string summary;                 // one line for `hilsim --help`
  std::string usage;                   // full text for `hilsim NAME --help`
  std::vector<std::string> flags;      // gflags names this command reads
  std::function<int(const std::vector<std::string>& positional)> run;
};

std::vector<Command>& registry();

struct Register {
  explicit Register(Command c) { registry().push_back(std::move(c)); }
};

// Exit codes of the contract in shared docs: 0 ok, 1 the run failed, 2 bad input, 130 interrupted.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInterrupted = 130;

}  // namespace hilsim::cli
