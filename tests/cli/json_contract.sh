#!/usr/bin/env bash
# The --json contract: every command prints exactly one JSON object on stdout, carrying schema_version
# (tables, progress and notes go to stderr).
set -u
HILSIM=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
X=$SRC/device_profiles/x86_avx512_2core.json
M=zoo:resnet18_like@64
fail=0
check() {  # check command... : stdout must be one JSON object with schema_version
  local out rc
  out=$("$@" --json 2>/dev/null)
  rc=$?
  if [[ $rc -gt 1 ]] || ! printf '%s' "$out" | python3 -c 'import json,sys; j=json.load(sys.stdin); assert isinstance(j, dict) and j["schema_version"] == 1' 2>/dev/null; then
    echo "FAIL (rc=$rc): $* --json printed: $(printf '%s' "$out" | head -c 300)"
    fail=1
  fi
}
check "$HILSIM" zoo
check "$HILSIM" zoo resnet18_like --out "$TMP/zoo"
check "$HILSIM" profiles
check "$HILSIM" profiles --best
check "$HILSIM" inspect "$M"
check "$HILSIM" inspect --ops
check "$HILSIM" run "$M" --repeat 1 --warmup 0
# The gpu unit, where an OpenCL device exists (clinfo lists one): its copies are part of the contract.
if command -v clinfo >/dev/null && clinfo -l 2>/dev/null | grep -q Device; then
  check "$HILSIM" run "$M" --repeat 1 --warmup 0 --units gpu
  if ! "$HILSIM" run "$M" --repeat 1 --warmup 0 --units gpu --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["units"][0]["kind"] == "gpu" and j["total"]["transfer_ms_median"] > 0
assert any(o["kernel"].startswith("ocl_") for o in j["ops"]) and all("transfer_bytes" in o for o in j["ops"])'; then
    echo "FAIL: run --units gpu --json lacks the gpu unit, its kernels or its copies"
    fail=1
  fi
fi
check "$HILSIM" predict "$M" --profile "$X"
# The channel split (two cores here): the predicted best one runs, its prediction beside the measurement.
check "$HILSIM" run "$M" --repeat 1 --warmup 0 --units cpu0:0,cpu1:1 --split channels --profile "$X"
if ! "$HILSIM" run "$M" --repeat 1 --warmup 0 --units cpu0:0,cpu1:1 --split channels --profile "$X" --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["total"]["split_predicted_ms"] > 0 and j["total"]["crossings"] >= 1
names = {o["name"]: o["unit"] for o in j["ops"]}
assert any(n.endswith("/ch0") and u == "cpu1" for n, u in names.items()), names
assert any(n.endswith("/join") and u == "cpu0" for n, u in names.items()), names'; then
  echo "FAIL: run --split channels does not run a conv split between the two units"
  fail=1
fi
check "$HILSIM" plan "$M" --profile "$X" --target-speedup 1.2 --out "$TMP/plan.json"
check "$HILSIM" emit "$M" --plan "$TMP/plan.json" --out "$TMP/emitted"
check "$HILSIM" report "$M" --profile "$X" --out "$TMP/report.html"
check "$HILSIM" validate "$TMP/emitted" --repeat 2
check "$HILSIM" validate "$TMP/emitted" --repeat 2 --profile "$X"
check "$HILSIM" emit "$M" --plan "$TMP/plan.json" --out "$TMP/emitted_lib" --lib
check "$HILSIM" validate "$TMP/emitted_lib" --repeat 2
check "$HILSIM" compare-profiles "$X" "$X" --models "$M"
check "$HILSIM" fit "$X.samples.json" --out "$TMP/refit.json"
# Builds without the baselines (the sanitizer build) refuse bench-kernels and bench-run with exit 2.
if ! "$HILSIM" bench-kernels --quick --filter 'resnet' --min-time-s 0.001 --max-reps 1 2>&1 | grep -q "no baselines"; then
  check "$HILSIM" bench-kernels --quick --filter 'resnet' --min-time-s 0.001 --max-reps 2
  # The summary's geomean lies between each line's slowest and fastest shape, and counts every row.
  "$HILSIM" bench-kernels --quick --filter 'resnet' --min-time-s 0.001 --max-reps 2 --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
s = j["summary"]
assert s and sum(l["shapes"] for l in s) == len(j["results"]), s
for l in s:
    assert l["min_speedup"] <= l["geomean_speedup"] * (1 + 1e-9) and l["geomean_speedup"] <= l["max_speedup"] * (1 + 1e-9), l
' || { echo "FAIL: bench-kernels --json summary"; fail=1; }
fi
if "$HILSIM" --help | grep -q bench-run && ! "$HILSIM" bench-run "$M" --quick 2>&1 | grep -q "no baselines"; then
  check "$HILSIM" bench-run "$M" --quick
fi
# zoo and profiles name their lists as the design's table says.
"$HILSIM" zoo --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["models"][0]["name"], j' ||
  { echo "FAIL: zoo --json has no models list"; fail=1; }
# One naming scheme: a measured time names its statistic, a prediction is `ms` (or `predicted_ms` beside a
# measurement), the activation peak is peak_activation_bytes, validate's fields are flat.
fields() {  # fields PYTHON_ASSERTION -- command...
  local code=$1
  shift 2
  "$@" --json 2>/dev/null | python3 -c "import json,sys; j=json.load(sys.stdin); $code" ||
    { echo "FAIL: field names of $*"; fail=1; }
}
fields 't=j["total"]; assert {"measured_ms_median","measured_ms_p10","measured_ms_p90"} <= set(t) and "ms_median" not in t, t; assert "measured_ms_median" in j["ops"][0], j["ops"][0]' -- \
  "$HILSIM" run "$M" --repeat 2 --warmup 0
fields 't=j["total"]; assert "peak_activation_bytes" in t and "activation_peak_bytes" not in t, t; assert {"measured_ms_p10","measured_ms_median"} <= set(t) and "measured_ms" not in t, t' -- \
  "$HILSIM" predict "$M" --profile "$X" --compare --repeat 2
fields 'assert "latency" not in j and "numerics" not in j, j; assert {"max_abs_err","numerics_ok","measured_ms_p10","measured_ms_median","predicted_ms","error_pct"} <= set(j), j' -- \
  "$HILSIM" validate "$TMP/emitted" --repeat 2
fields 'assert {"max_abs_err","numerics_ok","measured_ms_p10","measured_ms_median","predicted_ms","error_pct","artefact"} <= set(j), j' -- \
  "$HILSIM" validate "$TMP/emitted_lib" --repeat 2
# The library on 2 threads, re-predicted with the profile at 2 threads; --threads is for a library DIR only.
fields 'assert j["threads"] == 2 and j["predicted_from"] == "profile" and j["numerics_ok"] and isinstance(j["undescribed_ops"], list), j' -- \
  "$HILSIM" validate "$TMP/emitted_lib" --repeat 2 --threads 2 --profile "$X"
"$HILSIM" validate "$TMP/emitted" --repeat 2 --threads 2 >/dev/null 2>"$TMP/threads.err"
rc=$?
if [[ $rc -ne 2 ]] || ! grep -q -- "--threads" "$TMP/threads.err"; then
  echo "FAIL (rc=$rc): validate --threads on a packed DIR: $(cat "$TMP/threads.err")"
  fail=1
fi
fields 'assert "peak_activation_bytes" in j["total"], j["total"]' -- "$HILSIM" inspect "$M"
exit $fail
