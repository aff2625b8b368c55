#!/usr/bin/env bash
# Installs what is missing, builds, and starts beit-server (Ctrl-C or SIGTERM stops it cleanly).
# Usage: scripts/serve.sh [beit-server flags...]      e.g. --model cls=/models/beit-base --port 50051
# Without any --model it serves the bundled BEiT models trained on Fashion-MNIST (tools/train/):
#   cls  BeitForImageClassification   (tools/train/models/fashion-mnist-cls)
#   seg  BeitForSemanticSegmentation  (tools/train/models/fashion-mnist-seg)
#   mim  BeitForMaskedImageModeling   (tools/train/models/fashion-mnist-mim)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
BEIT_BUILD_TESTS=OFF scripts/build.sh
args=("$@")
if [[ " $* " != *" --model"* && " $* " != *" --config"* ]]; then
  args+=(--model cls=tools/train/models/fashion-mnist-cls
         --model seg=tools/train/models/fashion-mnist-seg
         --model mim=tools/train/models/fashion-mnist-mim)
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec build/server/beit-server "${args[@]}"
