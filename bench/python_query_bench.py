#!/usr/bin/env python3
"""Per-query cost of the Python API against the C++ estimate() it wraps, for the search-loop step the
C++ bench times (predictor_bench's BM_OneLayerChanged): resnet50_like, every prunable conv in block 8x4,
one layer's ratio changing per query, 1 thread on the profile's cpu0. Runs the C++ bench in the same
process tree, alternating rounds, so both figures come from the same machine at the same time.

    python3 bench/python_query_bench.py BUILD_DIR [--profile P] [--seconds S] [--rounds N]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def per_query_us(f, seconds):
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(200):
            f()
        n += 200
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return 1e6 * dt / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--profile", default="device_profiles/x86_avx512_2core.json")
    ap.add_argument("--seconds", type=float, default=1.0, help="per side and round")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.build, "python"))
    import hilsim

    p = hilsim.Predictor("zoo:resnet50_like", a.profile, threads=1, unit="cpu0")
    ops = [op for op, _ in p.prunable_ops()]
    base = {op: {"format": "block", "block": [8, 4], "ratio": 0.5} for op in ops}
    cfg = hilsim.Config(base)
    p.estimate(cfg)
    state = {"i": 0, "r": 0.5}

    def step_config():
        state["r"] += 1e-7
        cfg.set_ratio(ops[state["i"] % len(ops)], state["r"])
        state["i"] += 1
        return p.estimate(cfg)["ms"]

    d = {op: dict(s) for op, s in base.items()}

    def step_dict(fn):
        def f():
            state["r"] += 1e-7
            d[ops[state["i"] % len(ops)]]["ratio"] = state["r"]
            state["i"] += 1
            return fn(d)
        return f

    # Rounds alternate between the two sides and each keeps its fastest round: on a shared machine a
    # neighbour's burst only ever adds time, and alternating gives both sides the same chances.
    results = {"convs": len(ops), "rounds": a.rounds}
    bench = os.path.join(a.build, "predictor_bench")
    if not os.path.exists(bench):
        print(f"note: {bench} not built; no C++ baseline", file=sys.stderr)
    py_c, py_d, py_p, cpp = [], [], [], []
    for _ in range(a.rounds):
        py_c.append(per_query_us(step_config, a.seconds))
        py_d.append(per_query_us(step_dict(p.estimate), a.seconds / 4))
        py_p.append(per_query_us(step_dict(lambda c: p.predict(c)["total"]["ms"]), a.seconds / 4))
        if os.path.exists(bench):
            out = subprocess.run([bench, "--benchmark_filter=BM_OneLayerChanged$", "--benchmark_format=json",
                                  f"--benchmark_min_time={a.seconds}"], capture_output=True, text=True,
                                 env=dict(os.environ, HILSIM_PROFILE=a.profile))
            b = json.loads(out.stdout)["benchmarks"][0]
            cpp.append(b["real_time"] * {"us": 1, "ms": 1e3, "ns": 1e-3}[b["time_unit"]])
    results["py_config_estimate_us"] = min(py_c)
    results["py_dict_estimate_us"] = min(py_d)
    results["py_dict_predict_us"] = min(py_p)
    if cpp:
        results["cpp_estimate_us"] = min(cpp)
        results["py_config_over_cpp"] = min(py_c) / min(cpp)
        results["py_dict_over_cpp"] = min(py_d) / min(cpp)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
