#!/usr/bin/env bash
# The package as a user installs it: pip into a fresh virtual environment (system site packages for
# setuptools, numpy, torch), offline, reusing this build's compiled extension; then `import hilsim` from
# a directory that is neither the source nor the build tree.
# Usage: install_test.sh PYTHON SOURCE_DIR BUILD_DIR
set -euo pipefail
py=$1 src=$2 build=$3
if ! "$py" -c "import venv" 2>/dev/null; then
  echo "skipped: $py has no venv module (Debian: python3-venv)"; exit 0
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then echo "skipped: $py has no pip (Debian: python3-pip)"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m venv --system-site-packages --without-pip "$work/venv"
# The venv's python runs the system pip (system site packages), installing into the venv.
HILSIM_BUILD_DIR=$build "$work/venv/bin/python" -m pip install --quiet --no-build-isolation --no-index \
  --no-warn-script-location "$src/python" 2>&1 | grep -v -i "deprecat\|warning: " || true
mkdir -p "$work/elsewhere" && cd "$work/elsewhere"
"$work/venv/bin/python" - "$work/venv" <<'PY'
import os, sys
import hilsim
venv = sys.argv[1]
assert hilsim.__file__.startswith(venv), f"imported {hilsim.__file__}, not the installed package under {venv}"
names = [os.path.basename(p["path"]) for p in hilsim.profiles()]
assert "x86_avx512_2core.json" in names, names
prof = hilsim.profile_path("x86_avx512_2core")
assert prof.startswith(venv), prof
p = hilsim.Predictor("zoo:resnet18_like@64", prof)
assert p.predict()["total"]["ms"] > 0
plan = hilsim.plan("zoo:resnet18_like@64", prof, target_speedup=1.3)
assert plan.predicted_ms < plan.dense_ms
try:
    hilsim.plan("zoo:resnet18_like@64", prof)
    raise SystemExit("expected hilsim.Error")
except hilsim.Error as e:
    assert "target_ms" in str(e), e
try:
    import torch  # noqa: F401
    import hilsim.torch  # noqa: F401
except ImportError:
    print("(torch absent: hilsim.torch not imported)")
print("installed hilsim", hilsim.__version__, "imports from", os.path.dirname(hilsim.__file__))
PY
"$work/venv/bin/python" -m pip uninstall --quiet --yes hilsim
