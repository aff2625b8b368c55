#!/usr/bin/env bash
# Installs what is missing, builds, and starts beit-server (Ctrl-C or SIGTERM stops it cleanly).
# Usage: scripts/serve.sh [beit-server flags...]      e.g. --model cls=/models/beit-base --port 50051
# Without any --model it serves the bundled tiny checkpoints (random weights, for trying the API):
#   cls  BeitForImageClassification   (tests/data/models/cls-relpos-meanpool)
#   seg  BeitForSemanticSegmentation  (tests/data/models/seg-upernet)
#   mim  BeitForMaskedImageModeling   (tests/data/models/mim-shared-relpos)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
BEIT_BUILD_TESTS=OFF scripts/build.sh
args=("$@")
if [[ " $* " != *" --model"* && " $* " != *" --config"* ]]; then
  args+=(--model cls=tests/data/models/cls-relpos-meanpool
         --model seg=tests/data/models/seg-upernet
         --model mim=tests/data/models/mim-shared-relpos)
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec build/server/beit-server "${args[@]}"
