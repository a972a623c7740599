"""hilsim: latency, memory access cost and energy of pruned CNNs on real devices.

    import hilsim
    p = hilsim.Predictor("zoo:yolov5s_like@320", "device_profiles/samsung_galaxy_s20.json")
    r = p.predict({"backbone.3": {"format": "block", "block": [8, 4], "ratio": 0.8}})
    r["total"]["ms"], r["ops"][0]
"""
from ._hilsim import Error, Predictor, __version__, zoo_names  # noqa: F401

__all__ = ["Error", "Predictor", "__version__", "zoo_names"]
