// `hilsim profiles`: the bundled device profiles and how each one's machine differs from this one, so a
// user (or a script choosing the default) sees which profile predicts this machine before trusting it.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/calibration/device_facts.h"
#include "hilsim/util/error.h"

DEFINE_bool(best, false, "print only the path of the measured profile that matches this machine best");

namespace hilsim::cli {
namespace {

std::vector<std::string> texts(const std::vector<model::DeviceMismatch>& m) {
  std::vector<std::string> t;
  for (const auto& x : m) t.push_back(x.text);
  return t;
}

// One profile's JSON entry. kernels_match is true only where the profile records the digest of this
// build's kernels: a script deciding whether a kept calibration still holds reads it, not --version.
nlohmann::json entry(const BundledProfile& b) {
  const auto& d = b.profile.device;
  return {{"path", b.path}, {"provenance", b.profile.provenance}, {"cpu_model", d.cpu_model}, {"cores", d.cores},
          {"calibrated_at", d.calibrated_at}, {"matches_this_machine", b.mismatches.empty()},
          {"mismatches", texts(b.mismatches)},
          {"kernels", d.kernels.empty() ? nlohmann::json() : nlohmann::json(d.kernels)},
          {"kernels_match", d.kernels == calibration::build_kernels_digest()}};
}

// --profile P: that one profile against this machine and build.
int check_one(const std::string& path) {
  model::Profile p = model::load_profile(path);
  auto m = model::device_mismatches(p.device, calibration::detect_device("/"));
  const BundledProfile b{path, std::move(p), std::move(m)};
  const nlohmann::json e = entry(b);
  if (FLAGS_json) {
    print_json({{"kernels", calibration::build_kernels_digest()}, {"profile", e}});
    return kExitOk;
  }
  std::printf("%s  %s %s, %d cores: %s\n", path.c_str(), b.profile.provenance.c_str(), b.profile.device.cpu_model.c_str(),
              b.profile.device.cores, b.mismatches.empty() ? "matches this machine" : "differs:");
  for (const auto& x : b.mismatches) std::printf("      %s\n", x.text.c_str());
  std::printf("kernels: this build %s, the profile %s\n", calibration::build_kernels_digest().c_str(),
              b.profile.device.kernels.empty() ? "records none" : b.profile.device.kernels.c_str());
  return kExitOk;
}

int run_profiles(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "hilsim profiles: takes no arguments (got '%s')\n", args[0].c_str());
    return kExitBadInput;
  }
  if (!FLAGS_profile.empty()) {
    if (FLAGS_best) throw Error("profiles", "--best and --profile exclude each other");
    return check_one(FLAGS_profile);
  }
  if (FLAGS_best) {
    if (FLAGS_json) print_json({{"best", bundled_profile()}});
    else std::cout << bundled_profile() << "\n";
    return kExitOk;
  }
  const auto all = bundled_profiles();
  const std::string best = best_bundled_profile(all);
  nlohmann::json j = nlohmann::json::array();
  size_t width = 0;
  bool any_match = false;
  for (const auto& b : all) {
    width = std::max(width, b.path.size());
    any_match |= b.mismatches.empty() && b.profile.provenance == "measured";
  }
  for (const auto& b : all) {
    const auto& d = b.profile.device;
    j.push_back(entry(b));
    j.back()["default"] = b.path == best;
    if (FLAGS_json) continue;
    std::printf("%s %-*s  %-8s %-24s %d cores  %s\n", b.path == best ? "*" : " ", static_cast<int>(width), b.path.c_str(),
                b.profile.provenance.c_str(), d.cpu_model.substr(0, 24).c_str(), d.cores,
                b.mismatches.empty() ? "matches this machine" : "differs:");
    for (const auto& m : b.mismatches) std::printf("      %s\n", m.text.c_str());
    // A measured profile without a kernels digest (older than digests; one with another digest lists it
    // among its mismatches) may price kernels changed since at their old speed.
    if (b.profile.provenance == "measured" && d.kernels.empty())
      std::printf("      records no kernels digest: kernels changed since it was measured are priced at their old speed\n");
  }
  if (FLAGS_json) {
    print_json({{"profiles", j}, {"kernels", calibration::build_kernels_digest()}});
  } else if (all.empty()) {
    std::printf("no bundled profiles found (device_profiles/ in the working directory or the source tree)\n");
  } else {
    std::printf("\n* the default of bench-predictor and bench-planner when given no --profile (predict, plan and "
                "validate take the profile they are given).%s\n",
                any_match ? "" : " None matches this machine: run `hilsim calibrate --out device_profiles/NAME.json` here.");
  }
  return kExitOk;
}

const Register reg({"profiles", "list the bundled device profiles and how each matches this machine",
                    "hilsim profiles [--best] [--json]\n"
                    "hilsim profiles --profile P [--json]\n\n"
                    "Lists device_profiles/*.json (measured and spec), each with the differences between the\n"
                    "machine it describes and this one in what moves kernel speed: dispatch ISA, cores, cache\n"
                    "sizes, CPU model, and the kernel sources it was calibrated with. A profile only predicts the\n"
                    "machine it was measured on. --best prints the path of the closest measured profile, the one\n"
                    "commands use when given no --profile. --profile P checks that one profile instead.\n"
                    "--json: {\"profiles\": [...]} (or {\"profile\": {...}} with --profile) and \"kernels\", this\n"
                    "build's kernels digest (as `hilsim --version` prints it); each profile has \"kernels\" (its\n"
                    "digest, null where unrecorded) and \"kernels_match\" (true only where it is this build's).",
                    {"best", "json", "profile"}, run_profiles});

}  // namespace
}  // namespace hilsim::cli
