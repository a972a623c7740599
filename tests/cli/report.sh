#!/usr/bin/env bash
# `hilsim report`: the page renders in a real browser (headless Chromium) with every chart present and
# drawn (data marks in each SVG), nothing fetched from elsewhere, and stays under 2 MB for a
# YOLOv5s-size model. Skips, saying why, where Chromium is not installed.
# Usage: report.sh HILSIM PYTHON SOURCE_DIR
set -eu
HILSIM=$1 PY=$2 SRC=$3
X=$SRC/device_profiles/x86_avx512_2core.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Configurations in the shape `hilsim bench-predictor --json` writes them.
cat > "$tmp/bench.json" <<'JSON'
{"profile": "x.json", "configs": [
 {"model": "resnet18_like", "config": "dense", "threads": 1, "measured_ms_p10": 10.2, "ours_ms": 9.6},
 {"model": "resnet18_like", "config": "block:8x4@0.7", "threads": 1, "measured_ms_p10": 5.1, "ours_ms": 4.4},
 {"model": "yolov5s_like", "config": "dense", "threads": 2, "measured_ms_p10": 31.0, "ours_ms": 35.5}]}
JSON
"$HILSIM" report zoo:resnet18_like@64 --profile "$X" --compare --repeat 3 --formats block,pattern \
  --predictor-json "$tmp/bench.json" --out "$tmp/r.html" --json > "$tmp/r.json" 2>/dev/null
"$HILSIM" report zoo:yolov5s_like@320 --profile "$X" --target-speedup 1.3 --out "$tmp/y.html" > /dev/null 2>&1
size=$(stat -c %s "$tmp/y.html")
[[ $size -lt 2000000 ]] || { echo "FAIL: yolov5s_like report is $size bytes (limit 2 MB)"; exit 1; }
echo "yolov5s_like report: $size bytes"
# Bad input names the flag and exits 2.
set +e
"$HILSIM" report zoo:resnet18_like@64 --profile "$X" > /dev/null 2> "$tmp/err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q -- "--out" "$tmp/err" || { echo "FAIL: report without --out: rc $rc, $(cat "$tmp/err")"; exit 1; }
echo '{"configs": [{"ours_ms": 1}]}' > "$tmp/bad.json"
set +e
"$HILSIM" report zoo:resnet18_like@64 --profile "$X" --predictor-json "$tmp/bad.json" --out "$tmp/b.html" > /dev/null 2> "$tmp/err"; rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "configs\[0\].measured_ms_p10" "$tmp/err" || { echo "FAIL: bad --predictor-json: rc $rc, $(cat "$tmp/err")"; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
  echo "skipped the browser check: no chromium installed (Debian: chromium; scripts/setup.sh lists it as optional)"
  exit 0
fi
for f in r y; do
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$tmp/$f.html" > "$tmp/$f.dom" 2>/dev/null
done
"$PY" - "$tmp" <<'PY'
import json, re, sys
d = sys.argv[1]
charts = json.load(open(f"{d}/r.json"))["charts"]
assert charts == ["chart-layers", "chart-scatter", "chart-configs", "chart-pareto", "chart-timeline", "chart-split",
                  "chart-fit"], charts
for page, need in (("r", {c: 3 for c in charts}), ("y", {c: 3 for c in charts if c not in ("chart-scatter", "chart-configs")})):
    src = open(f"{d}/{page}.html").read()
    dom = open(f"{d}/{page}.dom").read()
    assert "<script" not in src and "src=" not in src and "href=" not in src, "the page loads something"
    assert set(re.findall(r"https?://[^\"' )]+", src)) <= {"http://www.w3.org/2000/svg"}, "a link leaves the page"
    assert "</html>" in dom and "hilsim report" in dom, dom[:300]
    for c, n in need.items():
        m = re.search(r'<svg[^>]*id="%s".*?</svg>' % c, dom, re.S)
        assert m, f"{page}: chart {c} is not in the rendered page"
        marks = len(re.findall(r'class="mark', m.group(0)))
        assert marks >= n, f"{page}: chart {c} has {marks} data marks"
print("report renders in chromium with", len(charts), "charts drawn")
PY
