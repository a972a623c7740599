#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes each parser for a while: the ONNX
# importer from exported zoo models, the profile/samples parsers from the bundled profiles, the
# sparsity specs (uniform and per-layer JSON) from a few written by hand.
# Usage: scripts/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHILSIM_FUZZ=ON \
  -DHILSIM_BUILD_BENCH=OFF -DHILSIM_BUILD_PYTHON=OFF -DHILSIM_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target onnx_fuzz profile_fuzz sparsity_fuzz

corpus=$BUILD_DIR/corpus
mkdir -p "$corpus/onnx" "$corpus/profile" "$corpus/sparsity"
cp tests/fuzz/corpus/profile/* device_profiles/*.json "$corpus/profile/" 2>/dev/null || true
cp tests/fuzz/corpus/sparsity/* "$corpus/sparsity/"
if [[ -x build/hilsim ]]; then
  for m in resnet18_like mobileone_s0 yolov5s_like; do
    ./build/hilsim inspect "zoo:$m@32x0.25" --export-onnx "$corpus/onnx/$m.onnx" >/dev/null
  done
fi
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in onnx profile sparsity; do
  echo "fuzzing the $t parser for ${secs}s"
  log=$BUILD_DIR/$t.log
  if ! (cd "$BUILD_DIR" && "./${t}_fuzz" -max_total_time="$secs" -max_len=262144 -rss_limit_mb=4096 -timeout=20 \
        -print_final_stats=1 "corpus/$t") >"$log" 2>&1; then
    tail -60 "$log"
    echo "the $t fuzzer found a failure; the input is in $BUILD_DIR/crash-* (add it to tests/fuzz/corpus/$t)"
    exit 1
  fi
  grep -E "stat::(number_of_executed_units|new_units_added)" "$log" || true
done
