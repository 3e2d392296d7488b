#!/usr/bin/env bash
# bench/gpu/run.sh: the GPU checks in one prepared script (DESIGN.md section 9), for a machine with
# CUDA PyTorch and a compiler but no Node and no network. It expects, in the repo:
#   .device/node.xz          a Node 20 binary (xz -c $(which node) > .device/node.xz)
#   .device/node-include/    node_api.h, js_native_api.h, js_native_api_types.h, node_api_types.h
#   .device/fmnist/          t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (FID reference)
#   dist/, node_modules/node-addon-api   (npm run build here; carried along)
# Steps: build the addon against the local PyTorch (bench/gpu/build-addon.sh); bench/gpu/check
# (CPU vs CUDA, timings) beside bench/gpu/peer_cuda.py (PyTorch, same card); then `fewstep eval
# --device cuda` on the shipped models at n = 10,000, cheapest cells first, each teacher cell only
# if its estimated time fits BUDGET seconds. Everything lands in $OUT/r, packed into
# $OUT/results.tgz after each step (a killed run still returns what was done).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}
BUDGET=${BUDGET:-480}
N=${N:-10000}
# which parts run: check (CPU vs CUDA, timings), students, stage-one, teacher
STAGES=${STAGES:-check,students,teacher}
has() { [[ ",$STAGES," == *",$1,"* ]]; }
mkdir -p "$OUT/r"
START=$(date +%s)
elapsed() { echo $(($(date +%s) - START)); }
log() { echo "[$(elapsed)s] $*" | tee -a "$OUT/r/log.txt"; }
pack() { tar czf "$OUT/results.tgz.tmp" -C "$OUT" r && mv "$OUT/results.tgz.tmp" "$OUT/results.tgz"; }

mkdir -p /tmp/node/bin && xz -dc .device/node.xz >/tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
mkdir -p /usr/share/datasets/fashion-mnist && cp .device/fmnist/* /usr/share/datasets/fashion-mnist/
log "node $(node -v); $(nvidia-smi -L 2>&1 | head -1); $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"

if ! LIBTORCH_PYTHON=python3 NODE_INCLUDE=$PWD/.device/node-include bash bench/gpu/build-addon.sh >"$OUT/r/build.log" 2>&1; then
  log "addon build FAILED"
  grep -m 30 -E "error|Error" "$OUT/r/build.log"
  pack
  exit 1
fi
log "addon built"
if has check; then
node dist/bench/gpu/check.js "$OUT/r/check.json" --batch 1000 >"$OUT/r/check.log" 2>&1
log "check rc=$?"
cat "$OUT/r/check.log"
python3 bench/gpu/peer_cuda.py "$OUT/r/peer.json" --batch 1000 >"$OUT/r/peer.log" 2>&1
log "peer rc=$?"
cat "$OUT/r/peer.log"
pack
fi

M=models/fashion-mnist
S=${STUDENTS:-$M}   # folder of the students and stage-one to evaluate
ev() {
  local name=$1
  shift
  node bin/fewstep.js eval --device cuda --classifier $M/classifier.safetensors --n "$N" --batch-size 1000 \
    --cache-dir /tmp/fid-cache --out-dir "$OUT/r/$name" "$@" >"$OUT/r/$name.log" 2>&1
  log "$name rc=$? $(grep -c . "$OUT/r/$name/results.csv" 2>/dev/null) lines"
  pack
}
has students && ev students --model $S/student-N1.safetensors,$S/student-N2.safetensors,$S/student-N4.safetensors,$S/student-N8.safetensors \
  --steps 1,2,4,8 --sampler ddim,stochastic --ws 0,0.5,1,2,4
has stage-one && ev stage-one --model $S/stage-one.safetensors --steps 4,8,16 --ws 0,0.5,1,2,4
has teacher || { log "done"; exit 0; }
# seconds per teacher DDIM-256 cell of N samples, from check.json, with 30% margin
per_image=$(node -p "require('$OUT/r/check.json').cudaSecondsPerImage.teacherDdim256" 2>/dev/null || echo 1)
cell=$(node -p "Math.ceil($per_image * $N * 1.3 + 10)")
log "teacher DDIM-256 cell estimate ${cell}s"
for w in 1 0 4 2 0.5; do
  if [ $(($(elapsed) + cell)) -gt "$BUDGET" ]; then log "skip teacher-256 w=$w (budget)"; continue; fi
  ev "teacher-256-w$w" --model $M/teacher.safetensors --steps 256 --ws "$w"
done
if [ $(($(elapsed) + cell / 2)) -le "$BUDGET" ]; then
  ev teacher-small --model $M/teacher.safetensors --steps 16,64 --ws 0,0.5,1,2,4
fi
log "done"
