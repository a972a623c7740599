#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the embedded
# default (a built-in zoo model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/hilsim inspect zoo:yolov5s_like "$@"
