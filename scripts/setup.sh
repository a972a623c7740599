#!/usr/bin/env bash
# Installs the Debian packages hilsim needs, idempotently: `apt-get update` runs at most once, and only
# when something is missing. Safe to run on every build.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config python3
  libboost-graph-dev libeigen3-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libgflags-dev libbenchmark-dev libgtest-dev nlohmann-json3-dev
  libdnnl-dev libxnnpack-dev libpthreadpool-dev
  pybind11-dev python3-dev python3-numpy python3-torchvision python3-onnx
  python3-pip python3-venv python3-setuptools python3-wheel
  clang libclang-rt-14-dev
  # OpenCL: the loader and headers, PoCL (an OpenCL device on the CPU cores), clinfo, and CLBlast as the
  # GPU baseline. All optional at run time: the binaries open libOpenCL.so.1 when they need it.
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
)
# Optional: a headless browser, in which the `hilsim report` test renders its page (skipped without it).
if [[ "${HILSIM_BROWSER:-0}" == "1" ]]; then
  PACKAGES+=(chromium)
fi
# Optional extras for CI (cross build of the kernels, run under qemu-user).
if [[ "${HILSIM_CROSS:-0}" == "1" ]]; then
  PACKAGES+=(g++-aarch64-linux-gnu qemu-user)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
