#!/usr/bin/env bash
# Installs what is missing, builds, and runs the engine on a model.
#
# The gRPC server lands with issue #4; until then this runs `beit-run` (the same engine, offline)
# on a model folder and its inputs, by default the bundled BeitForImageClassification fixture.
# Usage: scripts/serve.sh [MODEL_DIR [INPUTS.safetensors]]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-tests/data/models/cls-relpos-meanpool}
INPUTS=${2:-$MODEL/inputs.safetensors}
scripts/install_deps.sh
BEIT_BUILD_TESTS=OFF scripts/build.sh
OUT=${BEIT_RUN_OUTPUT:-/tmp/beit-run-output.safetensors}
build/tools/beit-run --model "$MODEL" --inputs "$INPUTS" --output "$OUT"
echo "outputs written to $OUT (compare with Transformers' on the same inputs)"
