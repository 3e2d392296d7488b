#!/usr/bin/env bash
# The latent Fashion-MNIST models of models/fashion-mnist-latent/, end to end: an autoencoder
# (factor 4: 32x32 images padded from 28x28 -> [4, 8, 8] latents), a latent cache, a latent
# teacher, stage one and stage two down to 1 step, then the weights-only copies. Each step is
# timed into runs/fmnist-latent/times.txt. A step whose output exists is skipped (rerun to go on).
#   bash scripts/fmnist-latent.sh            # everything (hours on 2 CPU cores)
#   AE_STEPS=6000 TEACHER_STEPS=6000 bash scripts/fmnist-latent.sh
set -euo pipefail
cd "$(dirname "$0")/.."
F="node bin/fewstep.js"
R=runs/fmnist-latent
mkdir -p "$R"
AE=runs/fmnist-ae/autoencoder.safetensors
timed() {
  local name=$1
  shift
  local start=$SECONDS
  "$@"
  echo "$name: $((SECONDS - start)) s: $*" >>"$R/times.txt"
}
[ -f "$AE" ] || timed autoencoder $F train-autoencoder --data fashion-mnist --size 32 --out-dir runs/fmnist-ae --steps "${AE_STEPS:-6000}" --checkpoint-every 500 --grid-every 1000
[ -f "$R/latents.safetensors" ] || timed encode $F encode --autoencoder "$AE" --data fashion-mnist --out "$R/latents.safetensors"
[ -f "$R/teacher/teacher.safetensors" ] || timed teacher $F train-teacher --data "$R/latents.safetensors" --autoencoder "$AE" --out-dir "$R/teacher" \
  --steps "${TEACHER_STEPS:-6000}" --base-channels 24 --grid-every 2000
[ -f "$R/distill/stage-one.safetensors" ] || timed stage-one $F distill stage-one --teacher "$R/teacher/teacher.safetensors" --data "$R/latents.safetensors" \
  --out-dir "$R/distill" --steps "${STAGE_ONE_STEPS:-3000}" --lr 2e-4 --batch-size 64 --checkpoint-every 250
[ -f "$R/distill/student-N1.safetensors" ] || timed stage-two $F distill stage-two --out-dir "$R/distill" --start-steps 32 --target-steps 1 \
  --steps-per-halving "${HALVING_STEPS:-400}" --batch-size 64 --checkpoint-every 200
M=models/fashion-mnist-latent
mkdir -p "$M"
$F weights --in "$AE" --out "$M/autoencoder.safetensors"
$F weights --in "$R/teacher/teacher.safetensors" --out "$M/teacher.safetensors"
for f in stage-one student-N8 student-N4 student-N2 student-N1; do
  $F weights --in "$R/distill/$f.safetensors" --out "$M/$f.safetensors"
done
echo "done: $M" >>"$R/times.txt"
