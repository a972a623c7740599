#!/usr/bin/env bash
# `hilsim run` names every op left on the naive reference path: on stderr, and in --json as
# reference_ops (count) and reference_op_names. A zoo model has none; a three-input Max (the native
# kernel takes two) is named.
set -u
HILSIM=$1
PY=${2:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
"$HILSIM" run zoo:resnet18_like@64x0.25 --repeat 1 --warmup 0 --json >"$TMP/zoo.json" 2>"$TMP/zoo.err" || fail=1
"$PY" - "$TMP/zoo.json" <<'PYEOF' || fail=1
import json, sys
j = json.load(open(sys.argv[1]))
assert j["reference_ops"] == 0 and j["reference_op_names"] == [], j.get("reference_op_names")
PYEOF
if grep -q "reference path" "$TMP/zoo.err"; then echo "FAIL: warning for a model without reference ops"; fail=1; fi
if "$PY" -c "import onnx" 2>/dev/null; then
  "$PY" - "$TMP/gmp.onnx" <<'PYEOF' || fail=1
import sys
from onnx import TensorProto, helper
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 7])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 7])
g = helper.make_graph([helper.make_node("Max", ["x", "x", "x"], ["y"], name="the_max")], "max3", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
open(sys.argv[1], "wb").write(m.SerializeToString())
PYEOF
  "$HILSIM" run "$TMP/gmp.onnx" --repeat 1 --warmup 0 --json >"$TMP/gmp.json" 2>"$TMP/gmp.err" || fail=1
  grep -q "the_max (Max)" "$TMP/gmp.err" || { echo "FAIL: no warning naming the op"; cat "$TMP/gmp.err"; fail=1; }
  "$PY" - "$TMP/gmp.json" <<'PYEOF' || fail=1
import json, sys
j = json.load(open(sys.argv[1]))
assert j["reference_ops"] == 1, j["reference_ops"]
assert j["reference_op_names"] == [{"name": "the_max", "type": "Max"}], j["reference_op_names"]
PYEOF
fi
exit $fail
