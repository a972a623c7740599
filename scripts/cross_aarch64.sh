#!/usr/bin/env bash
# Cross-compiles the kernels, their tests and the standalone calibrator for aarch64 and runs them under
# qemu-user: proves the portable path builds and computes correctly off x86, and that the phone
# calibrator's samples fit into a profile on the host. Timings under qemu mean nothing.
# Usage: scripts/cross_aarch64.sh [gtest filter]
set -euo pipefail
cd "$(dirname "$0")/.."
HILSIM_CROSS=1 bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build-aarch64}
cmake -S . -B "$BUILD_DIR" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DHILSIM_KERNELS_ONLY=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target hilsim_tests hilsim-calibrate
file "$BUILD_DIR/hilsim_tests" | grep -q aarch64
file "$BUILD_DIR/hilsim-calibrate" | grep -q aarch64
qemu-aarch64 "$BUILD_DIR/hilsim_tests" --gtest_brief=1 --gtest_filter="${1:-*}"

# The phone calibrator on a tiny grid. The note marks the samples (and any profile fitted from them)
# as emulated, so they can never pass for a device's measurement.
SAMPLES="$BUILD_DIR/qemu_calibration.samples.json"
rm -f "$SAMPLES"
HILSIM_CALIBRATION_NOTE="measured under qemu-user emulation on an x86 host: timings are meaningless" \
  qemu-aarch64 "$BUILD_DIR/hilsim-calibrate" --tiny --budget-s 5 --threads-max 2 --out "$SAMPLES"
grep -q '"note": "measured under qemu-user' "$SAMPLES"
if [[ -x ./build/hilsim ]]; then
  PROFILE="$BUILD_DIR/qemu_calibration.json"
  ./build/hilsim fit "$SAMPLES" --out "$PROFILE"
  # The fitted profile must load and predict (every class of the model has a model in it).
  ./build/hilsim predict zoo:mobilenetv2_like --profile "$PROFILE" >/dev/null
  grep -q '"provenance_note": "measured under qemu-user' "$PROFILE"
  echo "cross_aarch64: samples from the aarch64 calibrator fit into $PROFILE (timings meaningless)"
else
  echo "cross_aarch64: ./build/hilsim not built; skipped fitting $SAMPLES on the host"
fi
