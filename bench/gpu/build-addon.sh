#!/usr/bin/env bash
# Builds native/build/Release/fewstep.node with g++ directly (no node-gyp, no npm), for a GPU
# machine that has a compiler and a Python with CUDA PyTorch but no Node toolchain. The flags are
# binding.gyp's, with the values scripts/find-libtorch.mjs prints.
#   NODE_INCLUDE  folder holding node_api.h (default /usr/include/node)
set -euo pipefail
cd "$(dirname "$0")/../.."
node_include=${NODE_INCLUDE:-/usr/include/node}
find=scripts/find-libtorch.mjs
includes=$(node $find includes)
libdir=$(node $find libdir)
flags=(-std="$(node $find std)" -fPIC -fexceptions -frtti -O2 -Wno-unused-parameter -Wno-deprecated-declarations
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION
  -D_GLIBCXX_USE_CXX11_ABI="$(node $find abi)" -DFEWSTEP_CUDA="$(node $find cuda)"
  -I"$node_include" -Inode_modules/node-addon-api)
for dir in $includes; do flags+=(-I"$dir"); done
out=${ADDON_OUT:-native/build/Release}
mkdir -p "$out/obj"
echo "build-addon: $(node $find json | tr -d '\n ' | head -c 300)"
pids=()
for src in native/src/*.cc; do
  g++ "${flags[@]}" -c "$src" -o "$out/obj/$(basename "$src" .cc).o" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# shellcheck disable=SC2046
g++ -shared -o "$out/fewstep.node" "$out"/obj/*.o -L"$libdir" -Wl,-rpath,"$libdir" -Wl,--no-as-needed $(node $find libs) -Wl,--as-needed
echo "build-addon: wrote $out/fewstep.node"
