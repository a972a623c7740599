#!/usr/bin/env bash
# bench-predictor and bench-planner with --units, end to end on CPU units (the gpu unit needs a profile
# calibrated with --units gpu, which the bundled one is not): one unit runs every op of dense and block
# 8x4@0.7; two units are compared four ways (each alone, branch split, channel split), each predicted
# and measured, and the planner's pick is judged against the measured fastest. Accuracy is the
# benchmarks' business; this checks that every figure the JSON holds is there and consistent.
set -euo pipefail
HILSIM=$1
if (($(nproc) < 2)); then
  echo "SKIP: one core: cpu1:1 needs a second"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
profile=device_profiles/x86_avx512_2core.json
"$HILSIM" bench-predictor --quick --json --profile "$profile" --units cpu0:0 > "$tmp/one.json"
"$HILSIM" bench-planner --quick --json --profile "$profile" --units cpu0:0,cpu1:1 > "$tmp/two.json"
python3 - "$tmp/one.json" "$tmp/two.json" <<'PY'
import json, sys
one = json.load(open(sys.argv[1]))
assert one["unit"] == "cpu0", one["unit"]
cfgs = one["configs"]
assert len(cfgs) == 4, len(cfgs)  # --quick: two models, dense and block 8x4@0.7
assert {c["config"] for c in cfgs} == {"dense", "block:8x4@0.7"}, cfgs
for c in cfgs:
    assert c["threads"] == 1 and c["measured_ms_p10"] > 0 and c["ours_ms"] > 0, c
assert "transfers" not in one  # copies to a device are a gpu unit's only
two = json.load(open(sys.argv[2]))
assert two["units"] == "cpu0:0,cpu1:1"
models = two["models"]
assert len(models) == 1, models  # --quick: resnet18_like at 96
m = models[0]
names = [c["choice"] for c in m["choices"]]
assert names == ["cpu0 only", "cpu1 only", "branch split", "channel split"], names
for c in m["choices"]:
    assert c["predicted_ms"] > 0 and c["measured_ms_p10"] > 0, c
by = {c["choice"]: c for c in m["choices"]}
# The planner's rule: the faster unit alone, unless a split is predicted faster by more than min_split_gain.
single = min(["cpu0 only", "cpu1 only"], key=lambda k: by[k]["predicted_ms"])
splits = [k for k in ["branch split", "channel split"]
          if by[k]["predicted_ms"] < by[single]["predicted_ms"] * (1 - two["min_split_gain"])]
assert m["predicted_best"] == (min(splits, key=lambda k: by[k]["predicted_ms"]) if splits else single), m
assert 0 < two["min_split_gain"] < 0.2, two["min_split_gain"]
assert m["measured_best"] == min(by, key=lambda k: by[k]["measured_ms_p10"]), m
regret = by[m["predicted_best"]]["measured_ms_p10"] / by[m["measured_best"]]["measured_ms_p10"] - 1
assert abs(m["regret_pct"] - 100 * regret) < 1e-6 and m["regret_pct"] >= 0, m
assert m["channel_split"]["channels"] > 0, m
s = two["summary"]
assert s["models"] == 1 and 0 <= s["predicted_best_is_measured_best"] <= s["within_5pct_of_measured_best"] <= 1, s
PY
echo "bench-predictor / bench-planner --units: JSON consistent"
