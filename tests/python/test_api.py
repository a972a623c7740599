"""The search-loop API beyond Predictor: Config + estimate, plan/Plan, run, emit/validate, profiles, and
errors that name the keyword. Usage: test_api.py BUILD_DIR SOURCE_DIR"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(sys.argv[1], "python"))
import hilsim  # noqa: E402
from expect import expect_error  # noqa: E402

M = "zoo:resnet18_like@64"


names = [os.path.basename(p["path"]) for p in hilsim.profiles()]
assert "x86_avx512_2core.json" in names and not any(".samples." in n for n in names), names
prof = hilsim.profile_path("x86_avx512_2core")
info = hilsim.profile_info(prof)
assert info["provenance"] == "measured" and info["fit_rmspe_pct"], info
expect_error(lambda: hilsim.profile_path("no_such_device"), "no_such_device")

# Config: the same answers as a dict, changed in place; estimate() = predict()'s totals.
p = hilsim.Predictor(M, prof)
layer = p.prunable_ops()[3][0]
d = {layer: {"format": "block", "block": [8, 4], "ratio": 0.5}}
cfg = hilsim.Config(d)
assert len(cfg) == 1 and layer in cfg and cfg[layer]["ratio"] == 0.5, cfg.to_dict()
full = p.predict(d)["total"]
est = p.estimate(cfg)
for k in ("ms", "bytes", "energy_mj", "weight_bytes", "peak_memory_bytes"):
    assert est[k] == full[k], (k, est[k], full[k])
cfg.set_ratio(layer, 0.8)
d[layer]["ratio"] = 0.8
assert p.estimate(cfg)["ms"] == p.predict(d)["total"]["ms"] < full["ms"]
cfg.set(layer, None)
assert len(cfg) == 0 and p.estimate(cfg)["ms"] == p.predict()["total"]["ms"]
expect_error(lambda: cfg.set_ratio(layer, 0.5), layer)
expect_error(lambda: hilsim.Config({layer: {"format": "block", "ratio": 1.5}}), layer)
expect_error(lambda: p.estimate({"nope": {"format": "csr", "ratio": 0.5}}), "nope")

# plan(): a Plan object that saves, reloads, predicts and runs the same.
pl = hilsim.plan(M, prof, target_speedup=1.4, formats=["block", "pattern"])
assert pl.predicted_ms <= pl.target_ms * 1.0001 and pl.predicted_ms < pl.dense_ms, pl
assert any(s["format"] != "dense" for s in pl.layers.values())
assert abs(p.predict(pl.config())["total"]["ms"] - pl.predicted_ms) < 1e-9 * pl.predicted_ms
tmp = tempfile.mkdtemp(prefix="hilsim_api_test_")
pl.save(os.path.join(tmp, "plan.json"))
again = hilsim.load_plan(os.path.join(tmp, "plan.json"))
assert again.config().to_dict() == pl.config().to_dict() and again.predicted_ms == pl.predicted_ms
masks = pl.masks(M)
sparse_ops = [op for op, s in pl.layers.items() if s["format"] != "dense"]
assert sorted(masks) == sorted(sparse_ops), (sorted(masks), sorted(sparse_ops))
for op, mk in masks.items():
    assert mk["keep"].dtype.name == "uint8" and 0 < mk["keep"].mean() < 1, (op, mk["keep"].mean())
r = hilsim.run(M, plan=os.path.join(tmp, "plan.json"), repeat=2, warmup=0)
formats = {o["name"]: o["format"] for o in r["ops"]}
assert all(formats[op] != "dense" for op in sparse_ops), formats
assert r["total"]["measured_ms_median"] > 0 and r["threads"] == pl.threads
assert hilsim.measure is hilsim.run
files = hilsim.emit(M, pl, os.path.join(tmp, "out"))
assert all(os.path.exists(f) for f in files), files
v = hilsim.validate(os.path.join(tmp, "out"), prof, repeat=2)
assert v["numerics_ok"] and v["packed_convs"] == len(sparse_ops), v

# Errors name the keyword or the thing.
expect_error(lambda: hilsim.plan(M, prof), "target_ms")
expect_error(lambda: hilsim.plan(M, prof, target_ms=1, target_speedup=2), "target_ms")
expect_error(lambda: hilsim.plan(M, prof, target_speedup=-1), "target_speedup")
expect_error(lambda: hilsim.plan(M, prof, target_speedup=1.2, formats="blok"), "blok")
expect_error(lambda: hilsim.plan(M, prof, target_speedup=1.2, threads=0), "threads")
expect_error(lambda: hilsim.plan("zoo:resnet18_like@96", prof, target_speedup=1e6), "not reachable")
expect_error(lambda: pl.masks("zoo:yolov5s_like@64"), "another model")
expect_error(lambda: hilsim.run(M, repeat=0), "repeat")
expect_error(lambda: hilsim.run(M, sparsity="block:8x4@0.5", plan=pl), "sparsity")
expect_error(lambda: hilsim.calibrate(os.path.join(tmp, "p.json"), budget_s=0), "budget_s")
expect_error(lambda: hilsim.profiles(os.path.join(tmp, "none")), "none")
expect_error(lambda: hilsim.validate(tmp, prof), tmp)
print(f"python api ok: plan {pl.predicted_ms:.3f} ms vs dense {pl.dense_ms:.3f} ms, {len(masks)} masks, "
      f"validated max rel err {v['max_rel_err']:.2g}")
