#include "hilsim/model/profile_note.h"

#include <algorithm>
#include <vector>

namespace hilsim::model {

std::string profile_note(const Profile& p, const DeviceInfo& here, const std::string& path, ProfileNoteScope scope) {
  using Kind = DeviceMismatch::Kind;
  const std::vector<DeviceMismatch> m = device_mismatches(p.device, here);
  const auto kernels = std::find_if(m.begin(), m.end(), [](const DeviceMismatch& x) { return x.kind == Kind::kKernels; });
  const bool kernels_only = kernels != m.end() && m.size() == 1;
  // On this very machine with another build's kernels, the kernels are the whole story; a spec profile
  // is never of this machine.
  const bool machine_note = scope == ProfileNoteScope::kMachine &&
                            (p.provenance != "measured" || (!m.empty() && !kernels_only));
  if (!machine_note) {
    if (kernels == m.end()) return "";
    return path + " was " + kernels->text + ": its figures describe those kernels, not this build's "
                                            "(`hilsim calibrate` measures these)";
  }
  std::string why;
  for (const auto& x : m) why += (why.empty() ? "" : "; ") + x.text;
  return path + (p.provenance == "measured" ? " was measured on" : " is built from spec figures of") + " another machine" +
         (why.empty() ? "" : " (" + why + ")") +
         ": runs here need not match its predictions (`hilsim profiles` lists the bundled ones, `hilsim calibrate` "
         "measures this machine)";
}

}  // namespace hilsim::model
