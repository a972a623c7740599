"""One Predictor queried from a thread pool, as a pruning search that fans candidates out does: the
binding releases the GIL around predict(), so every answer must equal the serial one."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

build = sys.argv[1]
src = sys.argv[2]
sys.path.insert(0, os.path.join(build, "python"))
import hilsim  # noqa: E402

profile = os.path.join(src, "device_profiles", "samsung_galaxy_s20.json")
model = "zoo:resnet18_like@64"
serial = hilsim.Predictor(model, profile, unit="cpu_big")
layers = [name for name, _ in serial.prunable_ops()]

# Ratios that seldom repeat, so the per-op cache fills past its cap and is reset while others read it.
configs = []
for q in range(3000):
    ratio = 0.3 + 0.6 * ((q * 7919) % 9973) / 9973.0
    configs.append({layers[q % len(layers)]: {"format": "block", "block": [8, 4] if q % 3 else [4, 4], "ratio": ratio}})
want = [serial.predict(c)["total"]["ms"] for c in configs]

shared = hilsim.Predictor(model, profile, unit="cpu_big")
with ThreadPoolExecutor(max_workers=8) as pool:
    got = list(pool.map(lambda c: shared.predict(c)["total"]["ms"], configs))
wrong = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
assert not wrong, f"{len(wrong)} of {len(configs)} concurrent answers differ from the serial ones, e.g. {wrong[:3]}"
print("python concurrent predictor ok:", len(configs), "queries on 8 threads")
