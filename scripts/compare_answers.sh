#!/usr/bin/env bash
# Whether two beit-server builds give the same answers, byte for byte: starts each on the test
# models, asks both the same questions through beit-client (beit.v1 and the Open Inference
# Protocol: classify, segment with its PNGs, embed with per-layer tokens, predict-tokens, explain
# with its overlay), and compares every answer with its timing `stats` left out, and every PNG.
# For refactors that must not change a number (e.g. issue #26's serving core).
#
# Usage: scripts/compare_answers.sh OLD_BEIT_SERVER NEW_BEIT_SERVER [BEIT_CLIENT]
# Exit 0 when every answer is identical; 1 naming the ones that differ.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: scripts/compare_answers.sh OLD_BEIT_SERVER NEW_BEIT_SERVER [BEIT_CLIENT]}
NEW=${2:?usage: scripts/compare_answers.sh OLD_BEIT_SERVER NEW_BEIT_SERVER [BEIT_CLIENT]}
CLIENT=${3:-build/client/beit-client}
M=tests/data/models
I=tests/data/preprocess/images
OUT=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
PID=

# name|client arguments (PNG outputs named @DIR@/...)
QUESTIONS=(
  "classify-jpeg|classify --model cls --image $I/coffee_640x480_q90_420.jpg --top-k 5"
  "classify-png|classify --model abs --image $I/chelsea_333x517.png"
  "segment|segment --model seg --image $I/chelsea_seg_q90_420.jpg --scores --png @DIR@/labels.png --overlay @DIR@/overlay.png"
  "segment-sized|segment --model seg --image $I/astronaut_320x240_rgb.png --size 50x70"
  "embed|embed --model base --image $I/coffee_q90_444.jpg --layers 0,1,2 --cls --mean --patches --l2"
  "predict-tokens|predict-tokens --model mim --image $I/camera_256_gray_L.png --mask-ratio 0.4 --seed 7 --top-k 3"
  "explain|explain --model cls --image $I/chelsea_q90_420.jpg --png @DIR@/explain.png"
  "explain-last|explain --model seg --image $I/astronaut_96x64_exif6.jpg --method last-layer --query cls"
  "v2-classify|--api v2 classify --model cls --image $I/coffee_640x480_q90_420.jpg"
  "v2-segment|--api v2 segment --model seg --image $I/chelsea_seg_q90_420.jpg --png @DIR@/v2-labels.png"
  "v2-embed|--api v2 embed --model base --image $I/coffee_q90_444.jpg"
  "v2-predict-tokens|--api v2 predict-tokens --model mim --image $I/chelsea_palette_P.png --mask-ratio 0.5 --seed 3"
)

for side in old new; do
  binary=$OLD
  [[ $side == new ]] && binary=$NEW
  mkdir -p "$OUT/$side"
  "$binary" --port 0 --metrics-port -1 --http-port -1 --model "cls=$M/cls-relpos-meanpool" \
    --model "abs=$M/cls-abspos-clstoken" --model "seg=$M/seg-upernet" --model "mim=$M/mim-shared-relpos" \
    --model "base=$M/model-gelu-new" > "$OUT/$side.out" 2> "$OUT/$side.log" &
  PID=$!
  for _ in $(seq 600); do grep -q listening "$OUT/$side.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$OUT/$side.out")
  [[ -n "$port" ]] || { cat "$OUT/$side.log"; exit 1; }
  for q in "${QUESTIONS[@]}"; do
    name=${q%%|*}
    args=${q#*|}
    args=${args//@DIR@/$OUT/$side}
    # shellcheck disable=SC2086
    "$CLIENT" --server "localhost:$port" $args > "$OUT/$side/$name.json"
  done
  kill -TERM "$PID"
  wait "$PID" || true
  PID=
done

/usr/bin/python3 - "$OUT" "${QUESTIONS[@]%%|*}" <<'PY'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
def answer(side, name):
    value = json.load(open(f"{out}/{side}/{name}.json"))
    if isinstance(value, dict):
        value.pop("stats", None)
        for key in ("png", "overlay"):  # paths differ by side; the files are compared below
            value.pop(key, None)
    return json.dumps(value, sort_keys=True)
differ = [n for n in names if answer("old", n) != answer("new", n)]
pngs = sorted(f for f in os.listdir(f"{out}/old") if f.endswith(".png"))
differ += [p for p in pngs if open(f"{out}/old/{p}", "rb").read() != open(f"{out}/new/{p}", "rb").read()]
print(f"{len(names)} answers and {len(pngs)} PNGs compared; identical: {len(names) + len(pngs) - len(differ)}")
if differ:
    print("differ:", ", ".join(differ))
    sys.exit(1)
PY
