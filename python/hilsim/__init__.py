"""hilsim: latency, memory access cost and energy of pruned CNNs on real devices.

    import hilsim
    p = hilsim.Predictor("zoo:yolov5s_like@320", hilsim.profile_path("samsung_galaxy_s20"))
    r = p.predict({"backbone.3": {"format": "block", "block": [8, 4], "ratio": 0.8}})
    r["total"]["ms"], r["ops"][0]

    # A search loop: one layer changes per query, totals only.
    cfg = hilsim.Config({"backbone.3": {"format": "block", "block": [8, 4], "ratio": 0.5}})
    cfg.set_ratio("backbone.3", 0.7); p.estimate(cfg)["ms"]

    plan = hilsim.plan("model.onnx", profile, target_speedup=2.0, formats="block,pattern")
    plan.layers, plan.predicted_ms, plan.masks("model.onnx"), plan.save("plan.json")
    hilsim.run("model.onnx", plan=plan)          # measured on this machine's kernels
    hilsim.emit("model.onnx", plan, "out/"); hilsim.validate("out/", profile)

Bad input raises hilsim.Error (a ValueError) naming the file, op or keyword. PyTorch modules:
hilsim.torch (imported on its own: `import hilsim.torch`).
"""
import os

from ._hilsim import (  # noqa: F401
    Config,
    Error,
    Plan,
    Predictor,
    __version__,
    calibrate,
    emit,
    load_plan,
    measure,
    plan,
    profile_info,
    run,
    validate,
    zoo_names,
)
from ._hilsim import profiles as _profiles

# The bundled profiles ship inside the package (setup.py and the CMake build copy them there).
PROFILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "device_profiles")
if not os.path.isdir(PROFILES_DIR):
    PROFILES_DIR = None


def profiles(dir=None):
    """The device profiles in DIR (default: the bundled ones), as `hilsim profiles --json` lists them."""
    d = dir if dir is not None else PROFILES_DIR
    if d is None:
        raise Error("profiles: no bundled device_profiles directory found; pass dir=")
    return _profiles(d)


def profile_path(name):
    """The path of a bundled profile by name ("x86_avx512_2core"), or NAME itself when it is a file."""
    if os.path.isfile(str(name)):
        return str(name)
    for p in profiles():
        if os.path.splitext(os.path.basename(p["path"]))[0] == name:
            return p["path"]
    raise Error(f"profile '{name}': no such file and no bundled profile of that name "
                f"(bundled: {', '.join(os.path.splitext(os.path.basename(p['path']))[0] for p in profiles())})")


__all__ = ["Config", "Error", "Plan", "Predictor", "PROFILES_DIR", "__version__", "calibrate", "emit", "load_plan",
           "measure", "plan", "profile_info", "profile_path", "profiles", "run", "validate", "zoo_names"]
