#!/usr/bin/env bash
# Calibrates an Android phone over adb: builds (or takes) the static hilsim-calibrate for arm64,
# pushes it, runs it on the phone, pulls the samples back and fits the profile on this host.
#
# Usage: calibration/phone/calibrate_android.sh NAME [BUDGET_S] [CPUS]
#   NAME      profile name: writes device_profiles/NAME.json (+ NAME.json.samples.json)
#   BUDGET_S  measurement budget on the phone, seconds (default 300)
#   CPUS      cores to pin kernel threads to, e.g. 4,5,6,7 for the big cluster (default: unpinned)
# Environment: ANDROID_NDK (to build), HILSIM_CALIBRATE_BIN (a prebuilt binary instead),
#              ADB (default adb), ANDROID_SERIAL (which phone, as adb reads it).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${1:?usage: calibrate_android.sh NAME [BUDGET_S] [CPUS]}
BUDGET=${2:-300}
CPUS=${3:-}
ADB=${ADB:-adb}
REMOTE=/data/local/tmp/hilsim
OUT=device_profiles/$NAME.json

BIN=${HILSIM_CALIBRATE_BIN:-}
if [[ -z "$BIN" ]]; then
  : "${ANDROID_NDK:?set ANDROID_NDK to build, or HILSIM_CALIBRATE_BIN to a prebuilt binary}"
  cmake -S . -B build-android -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/android-ndk-aarch64.cmake \
    -DCMAKE_BUILD_TYPE=Release -DHILSIM_KERNELS_ONLY=ON -DHILSIM_BUILD_TESTS=OFF >/dev/null
  cmake --build build-android -j"$(nproc)" --target hilsim-calibrate
  BIN=build-android/hilsim-calibrate
fi
[[ -x ./build/hilsim ]] || { echo "build the host CLI first (scripts/build.sh): ./build/hilsim fits the samples" >&2; exit 1; }

"$ADB" get-state >/dev/null
"$ADB" shell mkdir -p "$REMOTE"
"$ADB" push "$BIN" "$REMOTE/hilsim-calibrate" >/dev/null
"$ADB" shell chmod 755 "$REMOTE/hilsim-calibrate"
MODEL=$("$ADB" shell getprop ro.product.model | tr -d '\r')
GOV=$("$ADB" shell cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null | tr -d '\r' || echo unknown)
echo "calibrating '$MODEL' (governor $GOV) for ${BUDGET}s; keep the screen on and the phone on a charger, cool"

ARGS=(--out "$REMOTE/samples.json" --budget-s "$BUDGET")
[[ -n "$CPUS" ]] && ARGS+=(--cpus "$CPUS")
RESUME=()
"$ADB" shell test -f "$REMOTE/samples.json" && RESUME=(--resume)
# The note travels inside the samples file into the profile's provenance_note.
NOTE="measured on $MODEL via adb, governor $GOV${CPUS:+, threads pinned to cores $CPUS}"
"$ADB" shell "cd $REMOTE && HILSIM_CALIBRATION_NOTE='$NOTE' ./hilsim-calibrate ${ARGS[*]} ${RESUME[*]:-}" || {
  echo "the run stopped early; the checkpoint stays on the phone: run this script again to resume" >&2
  exit 1
}
"$ADB" pull "$REMOTE/samples.json" "$OUT.samples.json" >/dev/null
./build/hilsim fit "$OUT.samples.json" --out "$OUT"
"$ADB" shell rm -f "$REMOTE/samples.json"
echo "profile: $OUT"
