#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the embedded
# default — the built-in yolov5s_like model (320x320) and the bundled measured profile whose machine
# matches this one best (`hilsim profiles` shows how each differs: dispatch ISA, cores, caches, CPU):
# predict the dense model and check it against a run here,
# plan block-punched pruning for a 2x faster model, emit it, and validate it (numerics and latency).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=${MODEL:-zoo:yolov5s_like}
PROFILE=${PROFILE:-$(./build/hilsim profiles --best)}
OUT=${OUT:-build/main_job}
mkdir -p "$OUT"
echo "== 1. the model"
./build/hilsim inspect "$MODEL" --passes | sed -n 1,2p
echo "== 2. predicted on $(basename "$PROFILE" .json), checked against a run on this machine (1 thread)"
./build/hilsim predict "$MODEL" --profile "$PROFILE" --unit cpu0 --compare --repeat 10 | tail -3
echo "== 3. plan: block-punched pruning for 2x the dense predicted speed"
./build/hilsim plan "$MODEL" --profile "$PROFILE" --unit cpu0 --target-speedup 2 --formats block,pattern \
  --out "$OUT/plan.json" | tail -3
echo "== 4. emit the pruned model and its packed weights"
./build/hilsim emit "$MODEL" --plan "$OUT/plan.json" --out "$OUT/emitted"
echo "== 5. validate: numerics against the reference, measured latency against the plan"
./build/hilsim validate "$OUT/emitted" --profile "$PROFILE" --repeat 10
