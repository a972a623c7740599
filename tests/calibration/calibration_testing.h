// Shared by the calibration tests: a calibration small enough for a unit test.
#pragma once

#include <filesystem>
#include <string>

#include "hilsim/calibration/calibrator.h"

namespace hilsim::calibration {

// The elementwise class alone, on one thread, within `budget_s`, written to `out`; samples an
// earlier run left there are removed first, so nothing is resumed unless a test asks for it.
inline CalibrateOptions elementwise_calibration(const std::string& out, double budget_s) {
  std::filesystem::remove(out + ".samples.json");
  CalibrateOptions o;
  o.out = out;
  o.budget_s = budget_s;
  o.classes = {"elementwise"};
  o.max_threads = 1;
  return o;
}

}  // namespace hilsim::calibration
