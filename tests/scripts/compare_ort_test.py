#!/usr/bin/env python3
"""scripts/compare_ort.py refuses bad input with exit code 2 and a message naming what is wrong: a flag,
the hilsim binary, the models directory's index.txt or a line of it, a missing model file, and a
missing npm. No network, no ONNX Runtime and no build are needed: every case fails before either is used.

Usage: compare_ort_test.py SCRIPT (the path of scripts/compare_ort.py)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts", "compare_ort.py")
# Any executable passes the script's hilsim check; nothing here runs it.
FAKE_HILSIM = shutil.which("true") or "/bin/true"


class CompareOrtBadInput(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="compare_ort_test_")
        # An ONNX Runtime directory that looks installed, so the checks after it are reached without npm.
        self.ort = os.path.join(self.tmp, "ort")
        os.makedirs(os.path.join(self.ort, "node_modules", "onnxruntime-node"))
        self.models = os.path.join(self.tmp, "models")
        os.makedirs(self.models)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_script(self, *args, env=None):
        e = dict(os.environ, HILSIM_ORT_DIR=self.ort)
        e.update(env or {})
        r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=e, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def expect_bad_input(self, names, *args, env=None):
        rc, out, err = self.run_script(*args, env=env)
        self.assertEqual(rc, 2, f"{args}: exit {rc}, stderr: {err}")
        self.assertEqual(out, "", f"{args}: nothing on stdout")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: one line on stderr, got: {err}")
        self.assertTrue(lines[0].startswith("compare_ort: "), lines[0])
        for n in names:
            self.assertIn(n, lines[0])

    def write_index(self, text):
        with open(os.path.join(self.models, "index.txt"), "w") as f:
            f.write(text)

    def test_flags(self):
        self.expect_bad_input(["'--frobnicate'"], "--frobnicate", "1")
        self.expect_bad_input(["'--threads'"], "--threads")  # no value
        self.expect_bad_input(["--threads", "'0'"], "--threads", "0")
        self.expect_bad_input(["--rounds", "'two'"], "--rounds", "two")
        self.expect_bad_input(["--repeat", "'-3'"], "--repeat", "-3")
        self.expect_bad_input(["'models'"], "models", self.models)  # not a flag at all

    def test_hilsim_binary(self):
        missing = os.path.join(self.tmp, "no_hilsim")
        self.expect_bad_input([missing, "no hilsim binary"], "--hilsim", missing, "--models", self.models)

    def test_missing_index(self):
        self.expect_bad_input([os.path.join(self.models, "index.txt"), "no such file"],
                              "--hilsim", FAKE_HILSIM, "--models", self.models)

    def test_bad_index_line(self):
        index = os.path.join(self.models, "index.txt")
        open(os.path.join(self.models, "resnet.onnx"), "w").close()  # line 1 is good, file and all
        self.write_index("resnet 224 224 1\nbroken line\n")
        self.expect_bad_input([index + ":2", "'broken line'"], "--hilsim", FAKE_HILSIM, "--models", self.models)
        self.write_index("resnet tall 224 1\n")
        self.expect_bad_input([index + ":1", "expected 'NAME H W OUTPUTS'"],
                              "--hilsim", FAKE_HILSIM, "--models", self.models)

    def test_missing_model_file(self):
        index = os.path.join(self.models, "index.txt")
        self.write_index("\nresnet 224 224 1\n")
        self.expect_bad_input([index + ":2", os.path.join(self.models, "resnet.onnx"), "is missing"],
                              "--hilsim", FAKE_HILSIM, "--models", self.models)

    def test_missing_npm(self):
        # No ONNX Runtime installed and neither node nor npm on PATH: it says so instead of trying to install.
        empty_ort = os.path.join(self.tmp, "empty_ort")
        empty_bin = os.path.join(self.tmp, "bin")
        os.makedirs(empty_bin)
        self.ort = empty_ort
        self.expect_bad_input(["node and npm"], "--hilsim", FAKE_HILSIM, "--models", self.models,
                              env={"PATH": empty_bin})
        self.assertFalse(os.path.exists(empty_ort), "nothing is installed")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
