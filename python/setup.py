"""Builds hilsim's Python package: the pybind11 extension by CMake, from the repository above this file.

    python3 -m pip install --no-build-isolation ./python

Without HILSIM_BUILD_DIR it configures a build of its own (Release) and builds only the extension's
targets. With HILSIM_BUILD_DIR=DIR it builds the `_hilsim` target in that already-configured build
directory, so an existing build is reused. CMAKE_ARGS adds configure arguments (e.g.
-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); HILSIM_BUILD_JOBS sets the parallel jobs (default: all cores).
The bundled device profiles (device_profiles/*.json, not their samples) ship inside the package.
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        for line in f:
            if line.strip().startswith("project(") and "VERSION" in line:
                return line.split("VERSION")[1].split()[0].strip(")")
    return "0"


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")):
            raise SystemExit(f"hilsim: {ROOT} holds no CMakeLists.txt; install from the repository's python/ directory")
        jobs = os.environ.get("HILSIM_BUILD_JOBS", str(os.cpu_count() or 1))
        build_dir = os.environ.get("HILSIM_BUILD_DIR")
        if build_dir:
            build_dir = os.path.abspath(build_dir)
            if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
                raise SystemExit(f"hilsim: HILSIM_BUILD_DIR={build_dir} is not a configured CMake build directory")
        else:
            build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
            os.makedirs(build_dir, exist_ok=True)
            cfg = ["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                   f"-DPython3_EXECUTABLE={sys.executable}", "-DHILSIM_BUILD_PYTHON=ON"]
            cfg += shlex.split(os.environ.get("CMAKE_ARGS", ""))
            subprocess.check_call(cfg)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_hilsim", "-j", jobs])
        built = glob.glob(os.path.join(build_dir, "python", "hilsim", "_hilsim*.so"))
        if not built:
            raise SystemExit(f"hilsim: the build in {build_dir} made no _hilsim module (is pybind11-dev installed?)")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        match = [b for b in built if b.endswith(suffix)]
        if not match:
            raise SystemExit(f"hilsim: {built[0]} was built for another Python than {sys.executable} ({suffix}); "
                             "reconfigure that build with -DPython3_EXECUTABLE or leave HILSIM_BUILD_DIR unset")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(match[0], dest)


class BuildPyWithProfiles(build_py):
    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "hilsim", "device_profiles")
        os.makedirs(out, exist_ok=True)
        for f in glob.glob(os.path.join(ROOT, "device_profiles", "*.json")):
            if ".samples." not in f and ".checkpoint" not in f:
                shutil.copy(f, out)


setup(
    name="hilsim",
    version=version(),
    description="Latency, memory access cost and energy of pruned CNNs on real devices, and plans to a latency target",
    packages=["hilsim"],
    ext_modules=[Extension("hilsim._hilsim", sources=[])],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithProfiles},
    python_requires=">=3.8",
    zip_safe=False,
)
