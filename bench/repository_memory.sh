#!/usr/bin/env bash
# Memory across model loads and unloads (issue #27): beit-server in explicit mode on a repository
# holding one checkpoint; load it, classify one image, unload it, wait until its memory is
# released, ten times; prints the server's RSS after each load and after each release, and the
# last load's RSS against the first's (target: within 10 %).
#
# Usage: bench/repository_memory.sh CHECKPOINT_DIR [PRECISION] [CYCLES]   (f32, 10)
# Environment: BUILD (build), IMAGE (the 640x480 q90 photo in tests/data). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?usage: bench/repository_memory.sh CHECKPOINT_DIR [PRECISION] [CYCLES]}
PRECISION=${2:-f32}
CYCLES=${3:-10}
BUILD=${BUILD:-build}
IMAGE=${IMAGE:-tests/data/preprocess/images/coffee_640x480_q90_420.jpg}
REPO=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$REPO"' EXIT
mkdir -p "$REPO/m/1"
cp "$CKPT"/* "$REPO/m/1/"
"$BUILD/server/beit-server" --model-repository "$REPO" --model-control-mode explicit --precision "$PRECISION" \
  --port 0 --metrics-port -1 --http-port 0 > "$REPO/out" 2> "$REPO/log" &
PID=$!
for _ in $(seq 600); do grep -q listening "$REPO/out" 2>/dev/null && break; sleep 0.1; done
HTTP=$(sed -n 's/.*http on port \([0-9]*\).*/\1/p' "$REPO/out")
[[ -n "$HTTP" ]] || { cat "$REPO/log"; exit 1; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status"; }
state() { curl -s -XPOST "localhost:$HTTP/v2/repository/index" | sed -n 's/.*"state":"\([A-Z]*\)".*/\1/p'; }
infer() {
  local size
  size=$(stat -c%s "$IMAGE")
  local header='{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":'$((size + 4))'}}]}'
  { printf '%s' "$header"; perl -e 'print pack("V", -s $ARGV[0])' "$IMAGE"; cat "$IMAGE"; } |
    curl -sf "localhost:$HTTP/v2/models/m/infer" -H "Inference-Header-Content-Length: ${#header}" --data-binary @- > /dev/null
}
echo "idle: $(rss_mb) MB"
first=0
last=0
for i in $(seq "$CYCLES"); do
  curl -sf -XPOST "localhost:$HTTP/v2/repository/models/m/load" > /dev/null
  infer
  loaded=$(rss_mb)
  curl -sf -XPOST "localhost:$HTTP/v2/repository/models/m/unload" > /dev/null
  for _ in $(seq 200); do [[ "$(state)" == UNAVAILABLE ]] && break; sleep 0.05; done
  echo "cycle $i: loaded $loaded MB, released $(rss_mb) MB"
  ((i == 1)) && first=$loaded
  last=$loaded
done
awk -v f="$first" -v l="$last" 'BEGIN {printf "last load against the first: %.3fx (target <= 1.10)\n", l / f}'
