#!/usr/bin/env bash
# `run --csv` and `predict --csv`: a header and one row per op, the same ops and figures as --json, names
# with commas quoted; run and predict name each conv's kernel and class alike; an unwritable --csv path is refused before any work (exit 2).
# Usage: csv_tables.sh HILSIM PYTHON
set -eu
HILSIM=$1 PY=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prof=$(dirname "$0")/../../device_profiles/x86_avx512_2core.json
"$HILSIM" predict zoo:resnet18_like@64 --profile "$prof" --sparsity block:8x4@0.7 --csv "$tmp/p.csv" --json > "$tmp/p.json"
"$HILSIM" run zoo:resnet18_like@64 --sparsity block:8x4@0.7 --repeat 2 --warmup 0 --csv "$tmp/r.csv" --json > "$tmp/r.json" 2>/dev/null
"$PY" - "$tmp" <<'PY'
import csv, json, sys
d = sys.argv[1]
for kind, ms in (("p", "ms"), ("r", "measured_ms_median")):
    rows = list(csv.DictReader(open(f"{d}/{kind}.csv", newline="")))
    ops = json.load(open(f"{d}/{kind}.json"))["ops"]
    assert len(rows) == len(ops) > 10, (kind, len(rows), len(ops))
    for r, o in zip(rows, ops):
        assert r["name"] == o["name"] and r["kernel"] == o["kernel"] and r["unit"] == o["unit"], (r, o)
        assert abs(float(r[ms]) - o[ms]) <= 1e-6 * max(1.0, abs(o[ms])), (kind, r[ms], o[ms])
        assert int(r["macs"]) == o["macs"], (r, o)
        assert r["class"] == o["class"], (kind, r, o)
    if kind == "p":
        assert any(r["format"] == "block" for r in rows), "no block-sparse op in predict's table"
        assert all(int(r["bytes"]) == o["bytes"] for r, o in zip(rows, ops))
# One name per kernel: every conv's kernel and class agree between predict and run (the kernel's ISA
# part aside, which is the profile's machine's in predict and this one's in run).
pred = {o["name"]: o for o in json.load(open(f"{d}/p.json"))["ops"]}
convs = [o for o in json.load(open(f"{d}/r.json"))["ops"] if o["type"] == "Conv"]
assert convs and any(o["kernel"].startswith("block_8x4_") for o in convs), convs
for o in convs:
    p = pred[o["name"]]
    assert p["class"] == o["class"] and p["kernel"].rsplit("_", 1)[0] == o["kernel"].rsplit("_", 1)[0], (p, o)
print("csv tables ok:", len(rows), "ops")
PY
# An op name with a comma and a quote survives the round trip (RFC 4180 quoting).
set +e
"$PY" - "$tmp" <<'PY'
import sys
try:
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    import numpy as np
except ImportError:
    sys.exit(77)
w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
n = helper.make_node("Conv", ["x", "w"], ["y"], name='conv,"odd"')
g = helper.make_graph([n], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1] + "/odd.onnx")
PY
rc=$?
set -e
if [[ $rc -eq 77 ]]; then echo "skipped the quoting check: it needs python's onnx module (Debian: python3-onnx)"; exit 0; fi
[[ $rc -eq 0 ]] || { echo "FAIL: could not write the test model"; exit 1; }
"$HILSIM" predict "$tmp/odd.onnx" --profile "$prof" --csv "$tmp/odd.csv" > /dev/null
"$PY" -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1], newline=''))); assert r[0]['name']=='conv,\"odd\"', r" "$tmp/odd.csv"
set +e
"$HILSIM" run zoo:resnet18_like@64 --csv "$tmp/no/such/dir/r.csv" > /dev/null 2> "$tmp/err"
rc=$?
set -e
[[ $rc -eq 2 ]] || { echo "FAIL: unwritable --csv exits $rc, not 2"; exit 1; }
grep -q -- "--csv" "$tmp/err" || { echo "FAIL: the error does not name --csv: $(cat "$tmp/err")"; exit 1; }
echo "csv quoting and bad path ok"
