#!/usr/bin/env bash
# bench-predictor --quick end to end: it runs, and its JSON holds what the README and the closing notes
# quote, consistently (a share is a share, every configuration was measured and predicted, the rounds
# compared pairwise). Accuracy itself is the benchmark's business, not this test's. The profile is also
# given as --compare-profile: scored on the same runs, its figures must equal the first profile's.
set -euo pipefail
HILSIM=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
profile=device_profiles/x86_avx512_2core.json
"$HILSIM" bench-predictor --quick --json --profile "$profile" --compare-profile "$profile" > "$out"
python3 - "$out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
cfgs = j["configs"]
assert len(cfgs) == 26, len(cfgs)  # --quick: two models x 13 configurations
for c in cfgs:
    assert c["measured_ms_p10"] > 0 and c["ours_ms"] > 0 and c["measured_p90_over_p10"] >= 1, c
for k, v in j["end_to_end"].items():
    assert 0 <= v["within10_pct"] <= 100 and v["rmspe_pct"] >= 0, (k, v)
by_t = j["end_to_end_by_threads"]
assert set(by_t) == {"1"}, by_t  # the default thread counts
for k in ("within10_pct", "rmspe_pct"):  # one thread count: the whole set
    assert abs(by_t["1"]["ours"][k] - j["end_to_end"]["ours"][k]) < 1e-9, by_t
rr = j["ground_truth"]["round_to_round"]
assert rr["pairs"] == 3 * len(cfgs), rr  # three rounds: three pairs per configuration
assert 0 <= rr["within10_pct"] <= 100 and rr["rms_pct"] >= 0 and rr["op_pairs"] > 0, rr
assert 0 <= j["per_kernel_median_abs_err_pct"] < 1000
assert 0 <= j["per_kernel_within10_pct"] <= 100
# resnet18_like at 224: its 2 MiB classifier lies beyond L2. Its first stage's 2.4 MiB Adds stream from
# DRAM only where they outgrow a quarter of the profile's last level (an 8 MiB L3, not a 32 MiB one).
kinds = j["per_kernel_by_layer_kind"]
assert "far gemm" in kinds, kinds
assert set(kinds) <= {"far gemm", "far elementwise", "grouped conv", "1x1 on 1x1 map", "global pool",
                      "many-input concat", "standalone batchnorm"}, kinds
for k, v in kinds.items():
    assert v["ops"] > 0 and v["median_abs_err_pct"] >= 0 and -100 <= v["median_signed_err_pct"], (k, v)
assert set(j["spearman"]) == {"resnet18_like", "mobilenetv2_like"}, j["spearman"]
for m, s in j["spearman"].items():
    assert -1 <= s["ours"] <= 1 and -1 <= s["flops"] <= 1, (m, s)
assert j["query_us"]["full_prediction"] > 0 and j["query_us"]["one_layer_changed"] > 0
cmp = j["compared_profile"]
for c in cfgs:
    assert c["compared_ms"] == c["ours_ms"], c
for k in ("within10_pct", "rmspe_pct"):
    assert cmp["end_to_end"][k] == j["end_to_end"]["ours"][k], cmp
    assert cmp["end_to_end_by_threads"]["1"][k] == by_t["1"]["ours"][k], cmp
assert cmp["per_kernel_by_class"] == j["per_kernel_by_class"], cmp
PY
echo "bench-predictor --quick: JSON consistent"
