#!/usr/bin/env bash
# The served forward beside the model-only one, in one run (issue #29): for each precision,
#   1. beit-bench at batch 1 and 8 (model call only), and the JPEG's decode + preprocessing alone;
#   2. beit-server on the same checkpoint with its default flags (plus EXTRA_SERVER_FLAGS), and
#      beit-client bench Classify with the JPEG at concurrency 1 and at concurrency 16 (closed loop);
#   3. one table row: the server's own compute time per batch (median over the answers' `stats`)
#      against beit-bench's p50 at that batch size, the mean batch size at concurrency 16,
#      saturation against model-only batch 8, and batch-1 latency against model-only + decode.
#
# Usage: bench/served_vs_model.sh CHECKPOINT_DIR [PRECISION...]   (default: every precision the CPU runs)
# Environment: IMAGE (default the 640x480 q90 photo in tests/data), SECONDS_PER_LEVEL (20),
# OMP_NUM_THREADS (2), EXTRA_SERVER_FLAGS, SERVER_ENV (VAR=VALUE ... for the server only), BUILD (build).
# Server and client share the machine's
# cores, as in a small pod with its load generator beside it. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bench/served_vs_model.sh CHECKPOINT_DIR [PRECISION...]}
shift
BUILD=${BUILD:-build}
IMAGE=${IMAGE:-tests/data/preprocess/images/coffee_640x480_q90_420.jpg}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-20}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PRECISIONS=("$@")
if [[ ${#PRECISIONS[@]} -eq 0 ]]; then
  for p in f32 bf16 int8; do
    grep -q "precision_$p: yes" <("$BUILD/tools/beit-run" --cpu-info) && PRECISIONS+=("$p")
  done
fi
# shellcheck source=bench/start_server.sh
source bench/start_server.sh
OUT=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
SERVER_PID=

CONFIG="$CKPT/preprocessor_config.json"
[[ -f "$CONFIG" ]] || CONFIG=tests/data/preprocess/configs/default.json  # BeitImageProcessor's defaults, as the server uses
"$BUILD/bench/beit-preprocess-bench" --image "$IMAGE" --preprocessor-config "$CONFIG" --min-time 2 > "$OUT/decode.json"

for p in "${PRECISIONS[@]}"; do
  "$BUILD/bench/beit-bench" --model "$CKPT" --batches 1,8 --min-time 6 --min-runs 6 --precision "$p" > "$OUT/model-$p.jsonl"
  # shellcheck disable=SC2086
  start_server "$OUT/server-$p" --model "m=$CKPT" --precision "$p" ${EXTRA_SERVER_FLAGS:-}
  "$BUILD/client/beit-client" bench --server "localhost:$SERVER_PORT" --model m --image "$IMAGE" \
    --concurrency 1,16 --duration-s "$SECONDS_PER_LEVEL" --warmup-s 3 > "$OUT/served-$p.jsonl"
  stop_server
done

/usr/bin/python3 - "$OUT" "${PRECISIONS[@]}" <<'EOF'
import json, sys
out, precisions = sys.argv[1], sys.argv[2:]
decode_ms = json.load(open(f"{out}/decode.json"))["ms_per_image"]
print(f"decode + preprocess of the image alone: {decode_ms:.2f} ms")
print("| precision | batch 1: served / model p50 ms | batch 8: served / model p50 ms | mean batch at c16 | saturation c16 / model b8 img/s | c1 p50 ms / model b1 p50 + decode |")
print("|---|---|---|---|---|---|")
for p in precisions:
    model = {d["batch"]: d for d in map(json.loads, open(f"{out}/model-{p}.jsonl"))}
    served = {d["concurrency"]: d for d in map(json.loads, open(f"{out}/served-{p}.jsonl"))}
    def compute(level, size):
        b = served[level].get("served", {}).get("by_batch_size", {}).get(str(size))
        return b["compute_ms_p50"] if b else float("nan")
    m1, m8 = model[1]["ms_per_batch_p50"], model[8]["ms_per_batch_p50"]
    s1, s8 = compute(1, 1), compute(16, 8)
    c16, c1 = served[16], served[1]
    sat, mod8 = c16["throughput_rps"], model[8]["images_per_s"]
    lat, bound = c1["latency_ms"]["p50"], m1 + decode_ms
    print(f"| {p} | {s1:.1f} / {m1:.1f} ({s1/m1:.3f}x) | {s8:.1f} / {m8:.1f} ({s8/m8:.3f}x) | "
          f"{c16.get('served', {}).get('mean_batch_size', 0):.2f} | {sat:.2f} / {mod8:.2f} ({sat/mod8:.3f}) | "
          f"{lat:.1f} / {bound:.1f} ({lat - bound:+.1f}) |")
EOF
