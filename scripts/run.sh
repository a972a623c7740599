#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job on the embedded
# default — the built-in yolov5s_like model (320x320) and the bundled measured profile that matches
# this machine (`hilsim profiles` shows how each differs: dispatch ISA, cores, caches, CPU) and timed
# this build's kernels. Where none does, this machine is calibrated first (the default 120 s, kept under build/profiles/ and reused by
# later runs on the same machine while the kernels are the ones it timed), so a newcomer's first comparison is like with like:
# predict the dense model and check it against a run here,
# plan block-punched pruning for a 2x faster model, emit it, and validate it (numerics and latency).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
MODEL=${MODEL:-zoo:yolov5s_like}
if [[ -z "${PROFILE:-}" ]]; then
  # usable: a measured bundled profile matches this machine and timed this build's kernels; stale: one
  # matches but timed other kernels (it would price changed kernels at their old speed); none: no match.
  bundled=$(./build/hilsim profiles --json | /usr/bin/python3 -c '
import json, sys
mine = [p for p in json.load(sys.stdin)["profiles"] if p["matches_this_machine"] and p["provenance"] == "measured"]
print("usable" if any(p["kernels_match"] for p in mine) else "stale" if mine else "none")')
  if [[ "$bundled" == "usable" ]]; then
    PROFILE=$(./build/hilsim profiles --best)
  else
    why="no bundled profile describes this machine (hilsim profiles)"
    if [[ "$bundled" == "stale" ]]; then
      why="the bundled profile of this machine kind timed other kernels than this build runs (hilsim profiles --json: kernels_match)"
    fi
    # One profile per machine kind: CPU model, ISA flags and core count name it.
    key=$( (grep -m1 "model name" /proc/cpuinfo; grep -m1 -o -w -E "avx512f|avx2|asimd" /proc/cpuinfo; nproc) | cksum | cut -d" " -f1)
    PROFILE=build/profiles/this_machine_$key.json
    # A kept calibration is reused only while the kernels it timed are the ones this build runs
    # (`hilsim profiles --profile P --json` says so in "kernels_match") and it still predicts.
    if [[ -f "$PROFILE" ]] && ./build/hilsim profiles --profile "$PROFILE" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["profile"]["kernels_match"] else 1)' &&
       ./build/hilsim predict zoo:resnet18_like@64 --profile "$PROFILE" --json >/dev/null 2>&1; then
      echo "== 0. $why: using this machine's calibration from an earlier run, $PROFILE"
    else
      echo "== 0. $why: calibrating this machine first (${CALIBRATE_S:-120} s)"
      mkdir -p build/profiles
      ./build/hilsim calibrate --out "$PROFILE" --budget-s "${CALIBRATE_S:-120}" --json >build/profiles/calibrate.json
      # A slow machine may end the budget before every class has samples enough; the plan needs them all.
      if /usr/bin/python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["classes_not_fitted"] else 1)' \
           build/profiles/calibrate.json; then
        echo "== 0. the budget left classes out (above): measuring them for 60 s more"
        ./build/hilsim calibrate --out "$PROFILE" --resume --budget-s 60 >/dev/null
      fi
    fi
  fi
fi
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
