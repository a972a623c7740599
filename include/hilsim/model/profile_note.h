// What a command says about using a device profile here: one builder for the profile-against-this-
// machine note (machine facts and kernels), so the wording and its rules live in one place.
#pragma once

#include <string>

#include "hilsim/model/profile.h"

namespace hilsim::model {

enum class ProfileNoteScope {
  // Commands that only use the figures (predict, plan): a profile of other kernels is noted (a kernel made
  // faster since calibration is predicted at its old speed); another machine is the user's choice.
  kKernels,
  // Commands that compare predictions with runs here (predict --compare, validate, bench-*): any
  // difference of machine is noted too, since the gap is then the machine, not the model.
  kMachine,
};

// The note (one line, without "note: " or a newline) about profile `p`, read from `path`, used on the
// machine `here` (whose `kernels` is this build's digest); "" when there is nothing to say.
std::string profile_note(const Profile& p, const DeviceInfo& here, const std::string& path, ProfileNoteScope scope);

}  // namespace hilsim::model
