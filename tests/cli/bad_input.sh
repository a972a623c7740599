#!/usr/bin/env bash
# Bad input at the CLI: each case must exit 2 and name the file, node, field or flag on stderr.
set -u
HILSIM=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
expect() {  # expect NEEDLE -- command...
  local needle=$1
  shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne 2 || "$err" != *"$needle"* ]]; then
    echo "FAIL (rc=$rc): $* -> $err"
    fail=1
  fi
}
printf 'not a protobuf' > "$TMP/junk.onnx"
printf '{"schema_version": 1' > "$TMP/broken.json"
printf '{"version": 9, "ops": {}}' > "$TMP/plan.json"
expect "no_such.onnx" -- "$HILSIM" inspect "$TMP/no_such.onnx"
expect "junk.onnx" -- "$HILSIM" inspect "$TMP/junk.onnx"
expect "zoo:nope" -- "$HILSIM" inspect zoo:nope
expect "--bogus" -- "$HILSIM" inspect zoo:resnet18_like --bogus
expect "--input-shape" -- "$HILSIM" inspect zoo:resnet18_like --input-shape 1x3xq
expect "broken.json" -- "$HILSIM" predict zoo:resnet18_like --profile "$TMP/broken.json"
expect "version" -- "$HILSIM" run zoo:resnet18_like@64 --plan "$TMP/plan.json"
expect "7x7" -- "$HILSIM" run zoo:resnet18_like@64 --repeat 1 --sparsity "$SRC/tests/cli/pattern_on_7x7.json"
expect "not reachable" -- "$HILSIM" plan zoo:resnet18_like@64 --profile "$SRC/device_profiles/x86_avx512_2core.json" --target-speedup 100
expect "cpu9" -- "$HILSIM" run zoo:resnet18_like@64 --units cpu0:0,cpu9:9
expect "no arguments" -- "$HILSIM" profiles extra
P=$SRC/device_profiles/x86_avx2_l3_32m_2core.json
expect "two profiles" -- "$HILSIM" compare-profiles "$P"
expect "broken.json" -- "$HILSIM" compare-profiles "$P" "$TMP/broken.json"
expect "--max-diff-pct" -- "$HILSIM" compare-profiles "$P" "$P" --max-diff-pct=-1
# A profile agrees with itself, and a copy 10% slower in every class fails a 3% check with exit 1.
if ! "$HILSIM" compare-profiles "$P" "$P" --models zoo:resnet18_like@64 --max-diff-pct 0.01 >/dev/null; then
  echo "FAIL: compare-profiles of a profile with itself"
  fail=1
fi
python3 - "$P" "$TMP/slow.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for m in p["kernels"].values():
    m["params"] = [x * 1.1 for x in m["params"]]
json.dump(p, open(sys.argv[2], "w"))
PY
"$HILSIM" compare-profiles "$P" "$TMP/slow.json" --models zoo:resnet18_like@64 --max-diff-pct 3 --json > "$TMP/cmp.json"
rc=$?
if [[ $rc -ne 1 ]] || ! python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; assert 9 < s["max_abs_diff_pct"] <= 10.001 and not s["within_max_diff"], s' "$TMP/cmp.json"; then
  echo "FAIL (rc=$rc): compare-profiles of a 10% slower copy"
  fail=1
fi
# A parallel speed reading at one thread is no parallel reading: the field is named, exit 2.
python3 - "$P" "$TMP/par1.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["device"]["speed_reference"]["parallel"] = {"threads": 1, "ms": 1.0}
json.dump(p, open(sys.argv[2], "w"))
PY
expect "device.speed_reference.parallel.threads" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$TMP/par1.json"
# The default profile is a bundled measured one, and the listing is JSON a script can read.
best=$("$HILSIM" profiles --best)
if [[ ! -f "$best" ]] || ! "$HILSIM" profiles --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert sum(p["default"] for p in j) == 1, j' ; then
  echo "FAIL: profiles --best ($best) / --json"
  fail=1
fi
exit $fail
