#!/usr/bin/env bash
# Model instances side by side (issue #26): beit-server on one checkpoint with each instance count
# from 1 up to the cores (threads per instance = cores / instances), with batches of one
# (--max-batch-size 1) and with the default batcher; for each, beit-client bench Classify with a
# JPEG at concurrency 1 and 8 (closed loop). Prints one table row per server: throughput at
# concurrency 8 and p50 latency at concurrency 1, each against one instance's in the same run.
#
# Usage: bench/instances.sh CHECKPOINT_DIR [PRECISION]   (default f32)
# Environment: IMAGE (default the 640x480 q90 photo in tests/data), SECONDS_PER_LEVEL (20),
# CORES (default: the usable cores), BUILD (build). Server and client share the cores, as in a
# small pod with its load generator beside it. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bench/instances.sh CHECKPOINT_DIR [PRECISION]}
PRECISION=${2:-f32}
BUILD=${BUILD:-build}
IMAGE=${IMAGE:-tests/data/preprocess/images/coffee_640x480_q90_420.jpg}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-20}
CORES=${CORES:-$(nproc)}
unset OMP_NUM_THREADS  # the server splits the cores itself
# shellcheck source=bench/start_server.sh
source bench/start_server.sh
OUT=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
SERVER_PID=

runs=()
for batcher in "--max-batch-size 1" ""; do
  for ((n = 1; n <= CORES; n *= 2)); do
    name="n$n-b${batcher:+1}"
    name=${name%-b}
    # shellcheck disable=SC2086
    start_server "$OUT/$name" --model "m=$CKPT" --precision "$PRECISION" --instances "$n" \
      --threads-per-instance $((CORES / n)) $batcher
    "$BUILD/client/beit-client" bench --server "localhost:$SERVER_PORT" --model m --image "$IMAGE" \
      --concurrency 1,8 --duration-s "$SECONDS_PER_LEVEL" --warmup-s 3 > "$OUT/$name.jsonl"
    stop_server
    runs+=("$n:$((CORES / n)):${batcher:-default}:$OUT/$name.jsonl")
  done
done

/usr/bin/python3 - "$PRECISION" "${runs[@]}" <<'PY'
import json, sys
precision, runs = sys.argv[1], sys.argv[2:]
print(f"| precision | batcher | instances x threads | c8 req/s (vs 1 instance) | mean batch at c8 | c1 p50 ms (vs 1 instance) |")
print("|---|---|---|---|---|---|")
base = {}
for run in runs:
    n, t, batcher, path = run.split(":", 3)
    levels = {d["concurrency"]: d for d in map(json.loads, open(path))}
    rps, p50 = levels[8]["throughput_rps"], levels[1]["latency_ms"]["p50"]
    mean_batch = levels[8].get("served", {}).get("mean_batch_size", 0)
    if n == "1":
        base[batcher] = (rps, p50)
    b_rps, b_p50 = base[batcher]
    print(f"| {precision} | {batcher} | {n} x {t} | {rps:.2f} ({rps / b_rps:.2f}x) | {mean_batch:.2f} | "
          f"{p50:.1f} ({p50 / b_p50:.2f}x) |")
PY
