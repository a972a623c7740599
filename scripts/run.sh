#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the embedded
# default: the built-in yolov5s_like model (320x320) and a bundled device profile. It shows what the
# model is, what hilsim predicts for it dense and block-pruned on the device, and a measurement of the
# same model on this machine's kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=${MODEL:-zoo:yolov5s_like}
PROFILE=${PROFILE:-device_profiles/samsung_galaxy_s20.json}
echo "== what the model is"
./build/hilsim inspect "$MODEL" --passes | sed -n 1,3p
echo "== predicted on $(basename "$PROFILE" .json): dense, then block-punched 8x4 at 80%"
./build/hilsim predict "$MODEL" --profile "$PROFILE" | tail -4
./build/hilsim predict "$MODEL" --profile "$PROFILE" --sparsity block:8x4@0.8 | tail -4
echo "== measured on this machine (hilsim's kernels, 1 thread)"
./build/hilsim run "$MODEL" --repeat 10 | tail -3
