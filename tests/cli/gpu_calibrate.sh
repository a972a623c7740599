#!/usr/bin/env bash
# calibrate --units gpu:CORE opens the OpenCL device as the runtime does: pinned to CORE with one PoCL
# thread per core. Started from the unpinned main thread instead, PoCL keeps a thread on every core for
# the rest of the process, the device is timed on all of them and every gpu prediction came out
# 25-65% low. The OpenCL context is one per process, so this runs the CLI: a very short calibration
# whose profile must record the device's compute units as 1 (and the samples file the same).
set -u
HILSIM=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cores=$(nproc)
if ((cores < 2)); then
  echo "SKIP: one core: a device pinned to one core cannot be told from an unpinned one"
  exit 77
fi
err=$("$HILSIM" calibrate --out "$TMP/c.json" --budget-s 0.01 --classes elementwise --threads-max 1 \
  --units gpu:1 --gpu-budget-s 0.5 --json 2>&1 >"$TMP/out.json")
rc=$?
if [[ $rc -eq 2 && "$err" == *"no OpenCL device"* ]]; then
  echo "SKIP: no OpenCL device on this machine (${err##*: })"
  exit 77
fi
if [[ $rc -ne 0 ]]; then
  echo "FAIL (rc=$rc): calibrate --units gpu:1: $err"
  exit 1
fi
python3 - "$TMP/c.json" "$TMP/c.json.samples.json" <<'PY'
import json, sys
prof = json.load(open(sys.argv[1]))
gpu = [u for u in prof["units"] if u["kind"] == "gpu"]
samples = json.load(open(sys.argv[2]))
ok = True
# The samples record the device as it was opened, whatever the budget reached. The profile holds a gpu
# unit only when some gpu class got samples enough to fit, which a slow build (sanitizers) may not reach
# in this budget: then only the samples are checked.
if len(gpu) > 1 or (gpu and (gpu[0].get("compute_units") != 1 or gpu[0].get("cpus") != [1])):
    print("FAIL: the profile's gpu unit is not one compute unit on core 1:", gpu)
    ok = False
if samples.get("gpu", {}).get("compute_units") != 1 or samples.get("gpu", {}).get("core") != 1:
    print("FAIL: the samples were taken on", samples.get("gpu"), "not on one compute unit")
    ok = False
sys.exit(0 if ok else 1)
PY
