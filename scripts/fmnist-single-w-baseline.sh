#!/usr/bin/env bash
# The single-w baseline of docs/RESULTS.md: a student distilled for w = 2 alone with the first
# shipped students' recipe (600 stage-one steps at lr 1e-4; stage two 32 -> 4, 400 steps per
# halving), then FID/IS at w = 2, n = 10,000 beside the first and the shipped w-conditioned
# 4-step students (the first one is taken from git history). About 35 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
D=runs/fmnist-single-w2
mkdir -p runs
git show 6724bf3^:models/fashion-mnist/student-N4.safetensors >runs/first-student-N4.safetensors
time node bin/fewstep.js distill stage-one --teacher models/fashion-mnist/teacher.safetensors --data fashion-mnist --out-dir $D --single-w 2 --steps 600 --batch-size 64 --checkpoint-every 200
time node bin/fewstep.js distill stage-two --data fashion-mnist --out-dir $D --start-steps 32 --target-steps 4 --steps-per-halving 400 --batch-size 64 --checkpoint-every 200
cp $D/student-N4.safetensors runs/single-w2-N4.safetensors
time node bin/fewstep.js eval --model runs/single-w2-N4.safetensors,runs/first-student-N4.safetensors,models/fashion-mnist/student-N4.safetensors \
  --classifier models/fashion-mnist/classifier.safetensors --ws 2 --steps 4 --n 10000 --out-dir runs/eval-single-w
