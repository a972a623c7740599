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
# Keywords as the CLI's flags, paths as os.PathLike, numbers from numpy, complete totals, a version.
import pathlib  # noqa: E402
assert hilsim.__version__, hilsim.__version__
t = dense["total"]
for k in ("dram_bytes", "cache_bytes", "extrapolated_ops", "peak_activation_bytes", "weight_bytes", "sum_ms"):
    assert k in t, (k, sorted(t))
pp = hilsim.Predictor("zoo:resnet18_like@64", pathlib.Path(profile), unit="cpu_big")
assert abs(pp.predict()["total"]["ms"] - dense["total"]["ms"]) < 1e-12
try:
    hilsim.Predictor("zoo:resnet18_like@64", 42, unit="cpu_big")
    raise SystemExit("expected an error for a profile given as a number")
except hilsim.Error as e:
    assert "os.PathLike" in str(e), e
try:
    import numpy as np
    r = p.predict({layer: {"format": "block", "block": np.array([8, 4]), "ratio": np.float32(0.8)}})
    assert abs(r["total"]["ms"] - sparse["total"]["ms"]) < 1e-9 * sparse["total"]["ms"] + 1e-6, (r["total"], sparse["total"])
    assert hilsim.Predictor("zoo:resnet18_like@64", profile, threads=np.int64(2), unit="cpu_big").predict()["threads"] == 2
except ImportError:
    pass
# input_shape: one the model can take is honoured, another is refused in Python's words.
assert hilsim.Predictor("zoo:resnet18_like", profile, unit="cpu_big", input_shape=(1, 3, 64, 64)).predict()["total"]["ms"] > 0
try:
    hilsim.Predictor("zoo:resnet18_like@64", profile, unit="cpu_big", input_shape=(4, 3, 64, 64))
    raise SystemExit("expected an error for a batch the zoo model cannot take")
except hilsim.Error as e:
    assert "input_shape=" in str(e) and "--input" not in str(e), e
print("python predictor ok:", round(dense["total"]["ms"], 3), "ms dense,", round(sparse["total"]["ms"], 3), "ms sparse")
