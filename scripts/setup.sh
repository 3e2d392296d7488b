#!/usr/bin/env bash
# Sets fewstep up on a fresh Debian machine: system packages, npm packages from the lock file,
# the native addon and the TypeScript build. Safe to run again (skips what is already there).
#   libtorch-dev          the libtorch the addon links against (Debian's 1.13)
#   libopenblas0-pthread  without it, libtorch's matrix products run on the reference BLAS, ~30x slower
#   python3-numpy         tests check that NumPy reads the .npy/safetensors files fewstep writes
#   dataset-fashion-mnist the image data set of the pixel-space pipeline
#   chromium              the browser test (test/web) drives it headless through playwright-core;
#                         playwright's own browser download would need the network at test time
# Benchmarks against PyTorch also need python3-torch: `apt-get install python3-torch`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev libopenblas0-pthread python3-numpy dataset-fashion-mnist chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node's install script would download CUDA binaries (network, ~300 MB); fewstep
  # runs ONNX models on the CPU, so skip it (newer npm versions skip dependency scripts anyway).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
if [ ! -f native/build/Release/fewstep.node ] || [ -n "$(find native/src native/binding.gyp -newer native/build/Release/fewstep.node 2>/dev/null)" ]; then
  npm run build:native
fi
# the TypeScript build, then the browser demo (web/dist: exported students, page, ort wasm files),
# which test/web serves
npm run build:web
echo "setup: done"
