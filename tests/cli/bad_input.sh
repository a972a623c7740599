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
# run cannot execute an op it does not know: --allow-unknown is not one of its flags, said before any work.
expect "'--allow-unknown' is not a flag of run" -- "$HILSIM" run zoo:resnet18_like@64 --allow-unknown
expect "--input-shape" -- "$HILSIM" inspect zoo:resnet18_like --input-shape 1x3xq
expect "broken.json" -- "$HILSIM" predict zoo:resnet18_like --profile "$TMP/broken.json"
# bench-predictor's second profile is read before anything is measured: a broken or missing one is named.
expect "broken.json" -- "$HILSIM" bench-predictor --quick --compare-profile "$TMP/broken.json"
expect "no_such.json" -- "$HILSIM" bench-predictor --quick --compare-profile "$TMP/no_such.json"
# bench-predictor --units: one unit, one the profile has, and its own threads; all said before measuring.
expect "has no unit 'gpu'" -- "$HILSIM" bench-predictor --quick --units gpu:1 --profile "$SRC/device_profiles/x86_avx512_2core.json"
expect "one unit at a time" -- "$HILSIM" bench-predictor --quick --units cpu0:0,cpu1:1 \
  --profile "$SRC/device_profiles/x86_avx512_2core.json"
expect "--thread-counts" -- "$HILSIM" bench-predictor --quick --units cpu0:0 --thread-counts 2 \
  --profile "$SRC/device_profiles/x86_avx512_2core.json"
# bench-planner --units judges the choice between two units of the profile.
expect "has no unit 'gpu'" -- "$HILSIM" bench-planner --quick --units cpu0:0,gpu:1 \
  --profile "$SRC/device_profiles/x86_avx512_2core.json"
expect "compares two units" -- "$HILSIM" bench-planner --quick --units cpu0:0
expect "--suite" -- "$HILSIM" bench-planner --quick --suite "$TMP"
expect "version" -- "$HILSIM" run zoo:resnet18_like@64 --plan "$TMP/plan.json"
expect "7x7" -- "$HILSIM" run zoo:resnet18_like@64 --repeat 1 --sparsity "$SRC/tests/cli/pattern_on_7x7.json"
expect "not reachable" -- "$HILSIM" plan zoo:resnet18_like@64 --profile "$SRC/device_profiles/x86_avx512_2core.json" --target-speedup 100
expect "cpu9" -- "$HILSIM" run zoo:resnet18_like@64 --units cpu0:0,cpu9:9
# --split branches places ops by a profile's predictions: a unit the profile lacks is named.
expect "unit 'gpu'" -- "$HILSIM" run zoo:resnet18_like@64 --repeat 1 --units cpu0:0,gpu:1 --split branches \
  --profile "$SRC/device_profiles/x86_avx512_2core.json"
expect "unknown mode 'rows'" -- "$HILSIM" run zoo:resnet18_like@64 --repeat 1 --units cpu0:0,cpu1:1 --split rows
# A gpu unit on a machine without an OpenCL device (the loader pointed at no driver): the unit and the
# missing device are named, exit 2.
expect "unit 'gpu': needs an OpenCL device" -- env OCL_ICD_VENDORS="$TMP/no_vendors" "$HILSIM" run zoo:resnet18_like@64 --units gpu
# calibrate --units takes the gpu unit only, and names a missing device before measuring anything.
expect "unit 'cpu0'" -- "$HILSIM" calibrate --out "$TMP/c.json" --units cpu0:0
expect "no OpenCL device" -- env OCL_ICD_VENDORS="$TMP/no_vendors" "$HILSIM" calibrate --out "$TMP/c.json" --units gpu
# ... and gives the driver's reason once, not the runtime's sentence about the unit inside its own.
err=$(env OCL_ICD_VENDORS="$TMP/no_vendors" "$HILSIM" calibrate --out "$TMP/c.json" --units gpu 2>&1 >/dev/null)
if [[ "$err" == *"needs an OpenCL device"* || $(grep -o "OpenCL" <<<"$err" | wc -l) -gt 2 ]]; then
  echo "FAIL: calibrate --units gpu without a device repeats its reason: $err"
  fail=1
fi
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
# Every flag value is checked before a command starts, with the flag named (gflags exited 1 with its own
# text, and "--threads -1" read as an unknown flag "--1").
X=$SRC/device_profiles/x86_avx512_2core.json
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads abc
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads 1.5
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads -1
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads 0
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads 1000
expect "--threads" -- "$HILSIM" run zoo:resnet18_like@64 --threads
expect "--repeat" -- "$HILSIM" run zoo:resnet18_like@64 --repeat=2x
expect "--threads" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$X" --threads 0
expect "--threads" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$X" --threads -1
expect "--threads" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$X" --threads 1000
expect "--threads" -- "$HILSIM" plan zoo:resnet18_like@64 --profile "$X" --target-speedup 1.2 --threads 0
expect "--target-ms" -- "$HILSIM" plan zoo:resnet18_like@64 --profile "$X" --target-ms fast
expect "--threads" -- "$HILSIM" bench-kernels --threads abc
expect "--json" -- "$HILSIM" inspect zoo:resnet18_like@64 --json=maybe
# An input the model cannot take is refused, not answered for batch 1 / 3 channels.
expect "--input-shape" -- "$HILSIM" predict zoo:resnet18_like@112 --profile "$X" --input-shape 4x3x112x112
expect "--input-shape" -- "$HILSIM" inspect zoo:resnet18_like --input-shape 1x1x224x224
# A plan holds its input size: made at 64, it is refused at 96 by run, predict and emit.
if ! "$HILSIM" plan zoo:resnet18_like@64 --profile "$X" --target-speedup 1.2 --out "$TMP/p64.json" >/dev/null 2>&1; then
  echo "FAIL: plan at 64"
  fail=1
fi
expect "p64.json" -- "$HILSIM" run zoo:resnet18_like@96 --repeat 1 --plan "$TMP/p64.json"
expect "p64.json" -- "$HILSIM" predict zoo:resnet18_like@96 --profile "$X" --plan "$TMP/p64.json"
expect "p64.json" -- "$HILSIM" emit zoo:resnet18_like@96 --plan "$TMP/p64.json" --out "$TMP/e96"
# ...and gives its thread count to run and predict when --threads is not given.
python3 - "$TMP/p64.json" "$TMP/p64t2.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["threads"] = 2
json.dump(p, open(sys.argv[2], "w"))
PY
for cmd in "run zoo:resnet18_like@64 --repeat 1 --warmup 0" "predict zoo:resnet18_like@64 --profile $X"; do
  t=$("$HILSIM" $cmd --plan "$TMP/p64t2.json" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["threads"])')
  if [[ "$t" != 2 ]]; then
    echo "FAIL: $cmd --plan (threads 2) used $t thread(s)"
    fail=1
  fi
done
# A plan's thread count is held to the machine's bound too (a plan for 64 threads would start 64 here).
python3 - "$TMP/p64.json" "$TMP/p64t64.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["threads"] = 64
json.dump(p, open(sys.argv[2], "w"))
PY
expect "threads 64" -- "$HILSIM" run zoo:resnet18_like@64 --repeat 1 --plan "$TMP/p64t64.json"
# One default: 1 thread for run and predict alike, printed in the result.
t=$("$HILSIM" predict zoo:resnet18_like@64 --profile "$X" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["threads"])')
[[ "$t" == 1 ]] || { echo "FAIL: predict's default threads $t"; fail=1; }
"$HILSIM" predict zoo:resnet18_like@64 --profile "$X" | grep -q "on 1 thread" || { echo "FAIL: predict's text names no thread count"; fail=1; }
# Profiles with impossible figures are refused naming the field (all loaded with exit 0 before).
python3 - "$X" "$TMP" <<'PY'
import copy, json, sys
base = json.load(open(sys.argv[1]))
def write(name, edit):
    p = copy.deepcopy(base)
    edit(p)
    json.dump(p, open(f"{sys.argv[2]}/{name}.json", "w"))
def huge(p):
    k = next(iter(p["kernels"].values()))
    k["params"][0] = 1e300
write("huge", huge)
write("threads", lambda p: p["units"][0].update(threads=64, cpus=list(range(64))))
write("unit", lambda p: next(iter(p["kernels"].values())).update(unit="npu"))
write("klass", lambda p: p["kernels"].update({"warp_conv/t1": next(iter(p["kernels"].values()))}))
PY
expect "params[0]" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$TMP/huge.json"
expect "units[0]" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$TMP/threads.json"
expect ".unit" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$TMP/unit.json"
expect "warp_conv" -- "$HILSIM" predict zoo:resnet18_like@64 --profile "$TMP/klass.json"
# Messages that say what is wrong, once.
expect "is a directory" -- "$HILSIM" inspect "$TMP"
err=$("$HILSIM" run 2>&1 >/dev/null)
[[ "$err" != *"run: run:"* ]] || { echo "FAIL: doubled prefix: $err"; fail=1; }
touch "$TMP/afile"
expect "--out" -- "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/afile"
# emit --lib: a plan of another model, a cross compiler that is not there, an output directory that
# cannot be made, library flags without --lib.
expect "p64.json" -- "$HILSIM" emit zoo:mobilenetv2_like@64 --plan "$TMP/p64.json" --out "$TMP/elib" --lib
expect "no-such-g++" -- env HILSIM_AARCH64_CXX=no-such-g++ "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/elib" --lib --target aarch64
expect "--out $TMP/afile/sub" -- "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/afile/sub" --lib
expect "--target" -- "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/elib" --target aarch64
expect "--target riscv" -- "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/elib" --lib --target riscv
expect "--tune-budget-s" -- "$HILSIM" emit zoo:resnet18_like@64 --plan "$TMP/p64.json" --out "$TMP/elib" --lib --tune-budget-s -1
err=$("$HILSIM" run zoo:resnet18_like@64 --trace "$TMP/no/such/dir/t.json" 2>&1 >/dev/null)
rc=$?
if [[ $rc -ne 2 || "$err" != *"--trace"* || "$err" == *measuring* ]]; then
  echo "FAIL (rc=$rc): an unwritable --trace must fail before measuring: $err"
  fail=1
fi
# Ctrl-C is an exit with status 130, not a death by signal (which a caller sees as -2, not 130).
python3 - "$HILSIM" <<'PY' || fail=1
import signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "run", "zoo:yolov5s_like", "--repeat", "100000"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(2)
p.send_signal(signal.SIGINT)
rc = p.wait(timeout=60)
if rc != 130:
    print(f"FAIL: Ctrl-C gave {rc}, expected exit 130")
    sys.exit(1)
PY
# The default profile is a bundled measured one, and the listing is JSON a script can read.
best=$("$HILSIM" profiles --best)
if [[ ! -f "$best" ]] || ! "$HILSIM" profiles --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert sum(p["default"] for p in j["profiles"]) == 1, j' ; then
  echo "FAIL: profiles --best ($best) / --json"
  fail=1
fi
# A budget too short for every class says which it left out, on stderr and in --json.
err=$("$HILSIM" calibrate --out "$TMP/short.json" --budget-s 0.01 --classes gemm,elementwise --threads-max 1 --json 2>&1 >"$TMP/short.out")
if [[ "$err" != *"warning: the 0.01 s budget ended before"* ]] ||
   ! python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["classes_not_fitted"], j' "$TMP/short.out"; then
  echo "FAIL: a short calibration did not name the classes it left out: $err"
  fail=1
fi
exit $fail
