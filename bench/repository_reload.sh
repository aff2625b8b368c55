#!/usr/bin/env bash
# Serving through reloads (issue #27): beit-server in poll mode on a repository holding one
# checkpoint as version 1; beit-client bench Classify at concurrency 8 (closed loop) for the whole
# run, once with nothing happening and once while version 2 is copied in (picked up, warmed up,
# version 1 drained and unloaded) and then removed again (version 1 loads back and takes over).
# Prints each run's bench line (throughput, latency percentiles, errors by status) and the
# server's load log lines.
#
# Usage: bench/repository_reload.sh CHECKPOINT_DIR [PRECISION]   (f32)
# Environment: BUILD (build), IMAGE (the 640x480 q90 photo in tests/data), DURATION_S (40), POLL_S (2).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bench/repository_reload.sh CHECKPOINT_DIR [PRECISION]}
PRECISION=${2:-f32}
BUILD=${BUILD:-build}
IMAGE=${IMAGE:-tests/data/preprocess/images/coffee_640x480_q90_420.jpg}
SECONDS_TOTAL=${DURATION_S:-40}
POLL_S=${POLL_S:-2}
REPO=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$REPO"' EXIT
mkdir -p "$REPO/m/1"
cp "$CKPT"/* "$REPO/m/1/"
"$BUILD/server/beit-server" --model-repository "$REPO" --repository-poll-s "$POLL_S" --precision "$PRECISION" \
  --port 0 --metrics-port -1 --http-port -1 > "$REPO/out" 2> "$REPO/log" &
PID=$!
for _ in $(seq 600); do grep -q listening "$REPO/out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$REPO/out")
[[ -n "$PORT" ]] || { cat "$REPO/log"; exit 1; }
bench() {
  "$BUILD/client/beit-client" bench --server "localhost:$PORT" --model m --image "$IMAGE" --concurrency 8 \
    --duration-s "$SECONDS_TOTAL" --warmup-s 2
}
echo "steady:"
bench
echo "while version 2 is copied in, then removed:"
bench &
BENCH=$!
sleep $((2 + SECONDS_TOTAL / 8))
mkdir -p "$REPO/m/2"
cp "$CKPT"/* "$REPO/m/2/"  # a plain copy: loaded once unchanged for one poll
sleep $((SECONDS_TOTAL / 2))
rm -rf "$REPO/m/2"
wait $BENCH
grep -E 'model version (ready|load failed|unloading)' "$REPO/log" | sed 's/^[^ ]* //'
