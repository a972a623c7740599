#!/usr/bin/env bash
# Cross-compiles the kernels and their tests for aarch64 and runs them under qemu-user: proves the
# portable path builds and computes correctly off x86. Timings under qemu mean nothing.
# Usage: scripts/cross_aarch64.sh [gtest filter]
set -euo pipefail
cd "$(dirname "$0")/.."
HILSIM_CROSS=1 bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build-aarch64}
cmake -S . -B "$BUILD_DIR" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DHILSIM_KERNELS_ONLY=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target hilsim_tests
file "$BUILD_DIR/hilsim_tests" | grep -q aarch64
qemu-aarch64 "$BUILD_DIR/hilsim_tests" --gtest_brief=1 --gtest_filter="${1:-*}"
