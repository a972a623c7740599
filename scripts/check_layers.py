#!/usr/bin/env python3
"""Checks that includes run one way through the areas, as shared design draws them:

  util < graph < analysis < kernels < runtime < model < calibration < costmodel < partition < codegen < tools

A source or test of an area may include headers of its own area and of the areas below it, never above.
tests/<area>/ is held to its area's rank; tools/, bench/, python/ and calibration/ (the standalone
calibrator) sit on top. Where a file is compiled matters too: no runtime source in the kernels library.

KNOWN lists the inversions that exist today and are being removed (each is debt named in the issues);
any other inversion fails, and so does a KNOWN entry that no longer occurs (so the list only shrinks).

Usage: check_layers.py [SOURCE_DIR]
"""
import os
import re
import sys

ORDER = ["util", "graph", "analysis", "kernels", "runtime", "model", "calibration", "costmodel", "partition", "codegen", "tools"]
RANK = {a: i for i, a in enumerate(ORDER)}
TOP = RANK["tools"]

# (including area, included area): the inversions today, to be removed.
KNOWN = set()
# Tests above runtime's rank may use the reference executor as their oracle (a pass keeps a graph's
# outputs: the graph test runs both graphs on it); below it, the oracle must live with the area.
ORACLES = {"runtime/reference_executor.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"hilsim/(([a-z_]+)/[a-z_/]+\.h)"')


def area_of(rel):
    parts = rel.split(os.sep)
    if parts[0] in ("src", "tests") and len(parts) > 2:
        return parts[1]
    if parts[0] == "include" and len(parts) > 3 and parts[1] == "hilsim":
        return parts[2]
    if parts[0] in ("tools", "bench", "python", "calibration"):
        return "tools"
    return None


def main(root):
    seen, bad = set(), []
    for top in ("src", "include", "tests", "tools", "bench", "python", "calibration"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".h", ".cc", ".cpp")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                area = area_of(rel)
                if area is None or (area not in RANK and area != "tools"):
                    continue
                rank = RANK.get(area, TOP)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        dep = m.group(2)
                        if dep not in RANK or (rel.startswith("tests") and m.group(1) in ORACLES and area != "kernels"):
                            continue
                        if RANK[dep] > rank:
                            if (area, dep) in KNOWN:
                                seen.add((area, dep))
                            else:
                                bad.append(f"{rel}:{n}: {area} includes {dep} (above it: {' < '.join(ORDER)})")
    cmake = open(os.path.join(root, "CMakeLists.txt")).read()
    m = re.search(r"file\(GLOB_RECURSE KERNEL_SRCS[^)]*\)", cmake)
    kernel_globs = m.group(0) if m else ""
    if "src/runtime/" in kernel_globs:
        if ("kernels", "runtime") not in KNOWN:
            bad.append("CMakeLists.txt: the kernels library compiles a runtime source")
        else:
            seen.add(("kernels", "runtime"))
    for k in sorted(KNOWN - seen):
        bad.append(f"known inversion {k[0]} -> {k[1]} no longer occurs: remove it from KNOWN in {sys.argv[0]}")
    for b in bad:
        print(b)
    print(f"layers: {len(bad)} problem(s); {len(seen)} known inversion(s) left: "
          + ", ".join(f"{a}->{d}" for a, d in sorted(seen)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
