#!/usr/bin/env python3
"""Whole models against what users would run instead: ONNX Runtime's CPU provider, `hilsim run` and
(with --lib) the emitted dense library, on the same ONNX files, at the same thread count, in interleaved
rounds (so that a slow phase of a shared host hits all three alike).

Usage: scripts/compare_ort.py [--models DIR] [--threads N] [--rounds R] [--repeat N] [--lib]
                              [--profile P] [--hilsim PATH] [--json FILE]
  --models DIR  ONNX files with an index.txt (NAME H W OUTPUTS per line); default: export the baseline
                suite (tests/models/real_models.py --suite baseline) into build/baseline_models
  --lib         also emit each model's dense plan as a library (hilsim emit --lib) and time model_bench
  --profile P   the profile the dense plan is made with (it only records predictions; default: the
                bundled profile `hilsim profiles` marks as the default)

ONNX Runtime comes from the npm package onnxruntime-node (its CPU provider, installed with
--ignore-scripts into $HILSIM_ORT_DIR, default ~/.cache/hilsim/onnxruntime-node, on first use); it is
a baseline only, nothing of hilsim needs it. Each figure is the p10 of --repeat timed runs after warm-up;
a model's figure is the median over the rounds, with the rounds' range beside it.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(msg):
    sys.stderr.write(f"compare_ort: {msg}\n")
    sys.exit(2)


def parse(argv):
    opts = {"models": "", "threads": 1, "rounds": 3, "repeat": 20, "lib": False,
            "hilsim": os.path.join(ROOT, "build", "hilsim"), "json": "", "profile": ""}
    rest = list(argv)
    while rest:
        flag = rest.pop(0)
        if flag in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if flag == "--lib":
            opts["lib"] = True
            continue
        key = flag[2:] if flag.startswith("--") else None
        if key not in opts or not rest:
            fail(f"unknown flag or missing value: '{flag}' (see --help)")
        value = rest.pop(0)
        if key in ("threads", "rounds", "repeat"):
            if not value.isdigit() or int(value) < 1:
                fail(f"{flag} '{value}': expected a positive integer")
            value = int(value)
        opts[key] = value
    return opts


def ort_dir():
    d = os.environ.get("HILSIM_ORT_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hilsim", "onnxruntime-node")
    if os.path.isdir(os.path.join(d, "node_modules", "onnxruntime-node")):
        return d
    if not shutil.which("node") or not shutil.which("npm"):
        fail("ONNX Runtime needs node and npm (the npm package onnxruntime-node); neither install was found")
    sys.stderr.write(f"installing onnxruntime-node into {d} (npm, --ignore-scripts)...\n")
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", d, "--ignore-scripts", "--no-audit", "--no-fund",
                        "onnxruntime-node"], stdout=sys.stderr)
    if r.returncode != 0:
        fail(f"npm install onnxruntime-node into {d} failed (exit {r.returncode})")
    return d


def models(opts):
    d = opts["models"]
    if not d:
        d = os.path.join(ROOT, "build", "baseline_models")
        r = subprocess.run([python_with_torch(), os.path.join(ROOT, "tests", "models", "real_models.py"), d,
                            "--suite", "baseline"], stdout=sys.stderr)
        if r.returncode != 0:
            fail("exporting the baseline suite failed")
    index = os.path.join(d, "index.txt")
    if not os.path.isfile(index):
        fail(f"{index}: no such file (a models directory needs an index.txt: NAME H W OUTPUTS per line)")
    out = []
    with open(index) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3 or not parts[1].isdigit():
                fail(f"{index}:{n}: expected 'NAME H W OUTPUTS', got '{line.strip()}'")
            path = os.path.join(d, parts[0] + ".onnx")
            if not os.path.isfile(path):
                fail(f"{index}:{n}: {path} is missing")
            out.append((parts[0], path, int(parts[1]), int(parts[2])))
    return out


def python_with_torch():
    for py in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([py, "-c", "import torch, torchvision"], capture_output=True).returncode == 0:
            return py
    fail("exporting the baseline suite needs PyTorch and torchvision (Debian: python3-torchvision)")


def default_profile(hilsim):
    listed = run_json([hilsim, "profiles", "--json"], "hilsim profiles")["profiles"]
    chosen = [p["path"] for p in listed if p.get("default")] or [p["path"] for p in listed]
    if not chosen:
        fail("no bundled profile to plan with; pass --profile P")
    return chosen[0] if os.path.isabs(chosen[0]) else os.path.join(ROOT, chosen[0])


def run_json(cmd, what, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{what}: {(r.stderr.strip().splitlines() or ['exit ' + str(r.returncode)])[-1]}")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"{what}: its output is not one JSON object")


def main(argv):
    opts = parse(argv)
    if not os.access(opts["hilsim"], os.X_OK):
        fail(f"{opts['hilsim']}: no hilsim binary (build first: bash scripts/build.sh)")
    node_env = dict(os.environ, NODE_PATH=os.path.join(ort_dir(), "node_modules"))
    todo = models(opts)
    threads, repeat = str(opts["threads"]), str(opts["repeat"])
    libs, lib_errors = {}, {}
    if opts["lib"]:
        profile = opts["profile"] or default_profile(opts["hilsim"])
        for name, path, h, w in todo:
            out = os.path.join(ROOT, "build", "baseline_libs", name)
            shape = f"1x3x{h}x{w}"
            try:
                plan = os.path.join(out + ".plan.json")
                os.makedirs(os.path.dirname(plan), exist_ok=True)
                run_json([opts["hilsim"], "plan", path, "--input-shape", shape, "--profile",
                          profile, "--target-speedup", "1", "--max-ratio", "0",
                          "--out", plan, "--json"], f"{name}: plan")
                run_json([opts["hilsim"], "emit", path, "--input-shape", shape, "--plan", plan, "--out", out,
                          "--lib", "--json"], f"{name}: emit --lib")
                libs[name] = os.path.join(out, "model_bench")
            except RuntimeError as e:
                libs[name] = None
                lib_errors[name] = str(e)
                sys.stderr.write(f"  no library for {name}: {e}\n")
    rows = {name: {"ort": [], "run": [], "lib": []} for name, *_ in todo}
    for rnd in range(opts["rounds"]):
        for name, path, h, w in todo:
            sys.stderr.write(f"round {rnd + 1}/{opts['rounds']}: {name}\n")
            r = rows[name]
            r["ort"].append(run_json(["node", os.path.join(ROOT, "scripts", "ort_time.js"), path, str(h),
                                      "--threads", threads, "--repeat", repeat], f"{name}: onnxruntime", node_env)["p10_ms"])
            r["run"].append(run_json([opts["hilsim"], "run", path, "--input-shape", f"1x3x{h}x{w}", "--threads",
                                      threads, "--repeat", repeat, "--json"], f"{name}: hilsim run")
                            ["total"]["measured_ms_p10"])
            if libs.get(name):
                r["lib"].append(run_json([libs[name], "--repeat", repeat, "--threads", threads],
                                         f"{name}: model_bench")["ms_p10"])
    report = {"threads": opts["threads"], "rounds": opts["rounds"], "repeat": opts["repeat"], "models": []}
    print(f"{'model':<22} {'onnxruntime ms':>22} {'hilsim run ms':>22} {'run/ort':>8}"
          + (f" {'library ms':>22} {'lib/ort':>8}" if opts["lib"] else ""))
    for name, *_ in todo:
        r = rows[name]
        entry = {"model": name}
        line = f"{name:<22}"
        for key in ("ort", "run", "lib"):
            if not r[key]:
                continue
            med = statistics.median(r[key])
            entry[key + "_ms_p10"] = med
            entry[key + "_ms_rounds"] = r[key]
            line += " " + f"{med:.2f} ({min(r[key]):.1f}-{max(r[key]):.1f})".rjust(22)
            if key != "ort":
                entry[key + "_over_ort"] = med / entry["ort_ms_p10"]
                line += f" {entry[key + '_over_ort']:7.2f}x"
        if opts["lib"] and not r["lib"]:
            line += f" {'n/a':>22}"
            entry["lib_error"] = lib_errors.get(name, "")
        report["models"].append(entry)
        print(line)
    uptime = os.getloadavg()
    report["load_average_1min"] = uptime[0]
    print(f"(p10 of {repeat} runs, median of {opts['rounds']} rounds and their range; {threads} thread(s); "
          f"load average {uptime[0]:.1f}; a ratio above 1 means slower than ONNX Runtime)")
    if opts["json"]:
        with open(opts["json"], "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
