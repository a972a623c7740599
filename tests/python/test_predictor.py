"""Drives the Python module as a pruning tool would: load once, predict many configs."""
import os
import sys

build = sys.argv[1]
src = sys.argv[2]
sys.path.insert(0, os.path.join(build, "python"))
import hilsim  # noqa: E402

profile = os.path.join(src, "device_profiles", "samsung_galaxy_s20.json")
p = hilsim.Predictor("zoo:resnet18_like@64", profile, unit="cpu_big")
dense = p.predict()
assert dense["total"]["ms"] > 0, dense["total"]
assert len(dense["ops"]) > 10
layer = p.prunable_ops()[3][0]
sparse = p.predict({layer: {"format": "block", "block": [8, 4], "ratio": 0.8}})
by_name = {o["name"]: o for o in sparse["ops"]}
assert by_name[layer]["format"] == "block"
assert by_name[layer]["executed_macs"] < 0.3 * by_name[layer]["macs"], by_name[layer]
assert sparse["total"]["ms"] < dense["total"]["ms"]
uniform = p.predict("pattern:2")
assert uniform["total"]["ms"] < dense["total"]["ms"]
try:
    p.predict({"no_such_layer": {"format": "csr", "ratio": 0.9}})
    raise SystemExit("expected an error for an unknown layer")
except hilsim.Error as e:
    assert "no_such_layer" in str(e), e
# One thread default with the CLI; 0 and negative counts are refused, not read as "the default".
assert dense["threads"] == 1, dense["threads"]
assert hilsim.Predictor("zoo:resnet18_like@64", profile, threads=4, unit="cpu_big").predict()["threads"] == 4
for bad in (0, -1, 1000):
    try:
        hilsim.Predictor("zoo:resnet18_like@64", profile, threads=bad, unit="cpu_big")
        raise SystemExit(f"expected an error for threads={bad}")
    except hilsim.Error as e:
        assert "threads" in str(e), e
print("python predictor ok:", round(dense["total"]["ms"], 3), "ms dense,", round(sparse["total"]["ms"], 3), "ms sparse")
