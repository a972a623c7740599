// libFuzzer target for the device-profile and samples parsers: any byte string must either parse or
// raise hilsim::Error — never crash, hang or raise anything else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hilsim/calibration/samples.h"
#include "hilsim/model/profile.h"
#include "hilsim/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto p = hilsim::model::parse_profile(text, "<fuzz>");
    // A profile that parsed must survive a round trip.
    hilsim::model::parse_profile(hilsim::model::dump_profile(p), "<fuzz-roundtrip>");
  } catch (const hilsim::Error&) {
  }
  try {
    hilsim::calibration::parse_samples(text, "<fuzz>");
  } catch (const hilsim::Error&) {
  }
  return 0;
}
