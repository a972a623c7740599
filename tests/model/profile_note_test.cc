#include "hilsim/model/profile_note.h"

#include <gtest/gtest.h>

using namespace hilsim::model;

namespace {

DeviceInfo machine(const std::string& kernels) {
  DeviceInfo d;
  d.cpu_model = "AMD EPYC";
  d.cores = 2;
  d.isa = {"avx2", "fma"};
  d.caches = {{1, "data", 32768, false}, {3, "unified", 8 << 20, true}};
  d.kernels = kernels;
  return d;
}

Profile profile_of(const DeviceInfo& d, const std::string& provenance = "measured") {
  Profile p;
  p.device = d;
  p.provenance = provenance;
  return p;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(ProfileNote, SameMachineSaysNothingUnlessTheProfileIsSpecFigures) {
  const DeviceInfo here = machine("aaaa");
  EXPECT_EQ(profile_note(profile_of(here), here, "p.json", ProfileNoteScope::kKernels), "");
  EXPECT_EQ(profile_note(profile_of(here), here, "p.json", ProfileNoteScope::kMachine), "");
  const std::string spec = profile_note(profile_of(here, "spec"), here, "s.json", ProfileNoteScope::kMachine);
  EXPECT_TRUE(has(spec, "s.json is built from spec figures of another machine: runs here")) << spec;
}

TEST(ProfileNote, AnotherMachineIsNotedOnlyWhereRunsAreCompared) {
  const DeviceInfo here = machine("aaaa");
  DeviceInfo there = machine("aaaa");
  there.cores = 8;
  EXPECT_EQ(profile_note(profile_of(there), here, "p.json", ProfileNoteScope::kKernels), "");
  const std::string n = profile_note(profile_of(there), here, "p.json", ProfileNoteScope::kMachine);
  EXPECT_TRUE(has(n, "p.json was measured on another machine (8 cores in the profile, 2 here)")) << n;
  EXPECT_TRUE(has(n, "`hilsim profiles` lists the bundled ones")) << n;
  EXPECT_FALSE(has(n, "kernels")) << n;
}

TEST(ProfileNote, OtherKernelsAloneAreTheKernelsNoteInEitherScope) {
  const DeviceInfo here = machine("aaaa");
  const Profile p = profile_of(machine("bbbb"));
  for (auto scope : {ProfileNoteScope::kKernels, ProfileNoteScope::kMachine}) {
    const std::string n = profile_note(p, here, "p.json", scope);
    EXPECT_EQ(n, "p.json was calibrated with other kernels (bbbb) than this build runs (aaaa): its figures describe "
                 "those kernels, not this build's (`hilsim calibrate` measures these)");
  }
  // A profile that records no digest is not flagged.
  EXPECT_EQ(profile_note(profile_of(machine("")), here, "p.json", ProfileNoteScope::kMachine), "");
}

TEST(ProfileNote, AnotherMachineWithOtherKernelsNamesBoth) {
  const DeviceInfo here = machine("aaaa");
  DeviceInfo there = machine("bbbb");
  there.isa.push_back("avx512f");
  const std::string n = profile_note(profile_of(there), here, "p.json", ProfileNoteScope::kMachine);
  EXPECT_TRUE(has(n, "p.json was measured on another machine (avx512f in the profile, not here; calibrated with "
                     "other kernels (bbbb) than this build runs (aaaa))")) << n;
  // Where only the kernels matter, only the kernels are said.
  const std::string k = profile_note(profile_of(there), here, "p.json", ProfileNoteScope::kKernels);
  EXPECT_TRUE(has(k, "p.json was calibrated with other kernels (bbbb)")) << k;
  EXPECT_FALSE(has(k, "avx512f")) << k;
}
