#!/usr/bin/env bash
# Builds docker/Dockerfile as it is, starts the image as an operator would, and checks what an
# operator meets first. No Docker daemon runs on these machines: Debian's buildah builds and runs
# the image (chroot isolation, vfs storage, docker format so HEALTHCHECK survives), on a bookworm
# base made once by debootstrap from this machine's own apt sources and cached.
#
# Checks, on the image built with its default arguments and started with its own entrypoint and
# default command, as the image's user:
#   - the entrypoint exists, every shared library the binaries need is in the image, and the
#     models the command names are readable and not writable by the image's user;
#   - the image's HEALTHCHECK command, as declared, passes within its start period;
#   - Classify of a bundled example image returns its label; /metrics and the Open Inference
#     Protocol's /v2/health/ready (HTTP) answer;
#   - the server runs as uid 10001; SIGTERM stops it with exit 0 within the stop timeout;
#   - the image stays within its size budget (the largest packages are listed).
# Then it builds with --build-arg MODEL_DIR=<the bundled segmentation model> and serves that, and
# proves that --model NAME=DIR given at run time replaces the baked-in model.
#
# Usage: scripts/container_check.sh [--self-test] [--image NAME]
#   --image NAME runs only the checks of the default image on NAME, an image already built
#   --self-test  afterwards, breaks the image three ways (a runtime library removed, the model
#                unreadable to the image's user, a wrong entrypoint) and requires the check to
#                fail on each with a message that names the fault.
# Environment: BEIT_CONTAINER_CACHE (base image tarball; default ~/.cache/beit-serve/container),
#              BEIT_IMAGE_BUDGET_MB (default below). Needs root (buildah's chroot isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

SELF_TEST=0
CHECK_ONLY_IMAGE=""
while (($# > 0)); do
  arg=$1; shift
  case "$arg" in
    --self-test) SELF_TEST=1 ;;
    --image) CHECK_ONLY_IMAGE=${1:?--image needs an image name}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "container_check: unknown flag $arg (use --self-test, --image NAME)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "container_check: needs root (buildah's chroot isolation); run it with sudo" >&2
  exit 2
fi

# Uncompressed image size budget. Measured 2026-11-30: see README, Docker section.
SIZE_BUDGET_MB=${BEIT_IMAGE_BUDGET_MB:-175}
CACHE=${BEIT_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/beit-serve/container}
BASE_IMAGE=debian:bookworm-slim        # the Dockerfile's default DEBIAN_IMAGE
IMAGE=localhost/beit-serve:check
IMAGE_SEG=localhost/beit-serve:check-seg
SEG_MODEL_DIR=tools/train/models/fashion-mnist-seg
OVERRIDE_MODEL_DIR=tools/train/models/fashion-mnist-mim
EXAMPLES=tools/train/models/examples

scripts/install_deps.sh --container

# Every build and run: chroot isolation (no OCI runtime or daemon needed), vfs storage.
export BUILDAH_ISOLATION=chroot
bh() { buildah --storage-driver vfs "$@"; }
say() { echo "container_check: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds_since() { local ms=$(($(now_ms) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
fail() { echo "container_check: FAIL: $*" >&2; exit 1; }

# Working containers and server processes started here, removed on any exit.
CONTAINERS=()
SERVER_PIDS=()
cleanup() {
  local pid c
  for pid in "${SERVER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for c in "${CONTAINERS[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# ---- the base: a minimal bookworm root file system from this machine's apt sources ----

ensure_base_image() {
  if bh inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base $BASE_IMAGE: cached in buildah's storage"
    return
  fi
  local sources mirror tarball=$CACHE/bookworm-minbase.tar
  sources=$(scripts/debian_sources.sh)
  mirror=$(awk '$3 == "bookworm" {print $2; exit}' <<<"$sources")
  [[ -n "$mirror" ]] || fail "no Debian bookworm source in this machine's apt configuration (/etc/apt/sources.list*)"
  if [[ ! -f "$tarball" ]] || ! cmp -s <(echo "$sources") "$CACHE/bookworm-minbase.sources"; then
    say "base: debootstrap --variant=minbase bookworm from $mirror (once; cached in $CACHE)"
    local root
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$root"; fail "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    # The image's apt uses the same sources as this machine (security updates included).
    echo "$sources" >"$root/etc/apt/sources.list"
    # Slim, as the -slim images are: packages installed later leave out documentation, manuals
    # and translations too (copyright files stay).
    cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    rm -rf "$root"/usr/share/{info,man,groff,lintian}/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    rm -rf "$root"
    mv "$tarball.tmp" "$tarball"
    echo "$sources" >"$CACHE/bookworm-minbase.sources"
  fi
  say "base: importing $tarball as $BASE_IMAGE"
  local c
  c=$(bh from scratch)
  CONTAINERS+=("$c")
  bh add "$c" "$tarball" / >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$c"
  bh commit --quiet --format docker "$c" "$BASE_IMAGE" >/dev/null
}

# ---- starting an image as its entrypoint and command say, and looking at it ----

image_config() { bh inspect --type image "$1" | jq '.Docker.config'; }

# The value after FLAG in the arguments that follow (last one wins, as in beit-server), or DEFAULT.
flag_value() {
  local flag=$1 default=$2; shift 2
  local value=$default
  while (($# > 0)); do
    case "$1" in
      "$flag") value=${2:-}; shift ;;
      "$flag"=*) value=${1#*=} ;;
    esac
    shift
  done
  echo "$value"
}

# Every DIR of --model NAME=DIR in the arguments.
model_dirs() {
  while (($# > 0)); do
    case "$1" in
      --model) echo "${2#*=}"; shift ;;
      --model=*) echo "${1#--model=}" | sed 's/^[^=]*=//' ;;
    esac
    shift
  done
}

# Descendant of PID (a buildah run) whose command name is NAME.
descendant_named() {
  local pid=$1 name=$2 child found
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    if [[ "$(cat /proc/"$child"/comm 2>/dev/null)" == "$name" ]]; then echo "$child"; return 0; fi
    found=$(descendant_named "$child" "$name") && { echo "$found"; return 0; }
  done
  return 1
}

# start_server IMAGE LOG [HOST_DIR:CTR_DIR ...] [-- ARGS replacing the image's CMD]
# Checks what can be seen before the start (entrypoint, libraries, model files), then runs the
# entrypoint with the command as the image's user. Sets SERVER_* and HELPER (a second working
# container of the image, for the health check and client calls: the network is the host's).
start_server() {
  local image=$1; SERVER_LOG=$2; shift 2
  SERVER_VOLUMES=()
  while (($# > 0)) && [[ "$1" != "--" ]]; do SERVER_VOLUMES+=(-v "$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  SERVER_CONFIG=$(image_config "$image")
  local entry=() cmd=()
  mapfile -t entry < <(jq -r '.Entrypoint[]?' <<<"$SERVER_CONFIG")
  if (($# > 0)); then cmd=("$@"); else mapfile -t cmd < <(jq -r '.Cmd[]?' <<<"$SERVER_CONFIG"); fi
  SERVER_ARGS=("${entry[@]}" "${cmd[@]}")
  SERVER_USER=$(jq -r '.User // ""' <<<"$SERVER_CONFIG")
  [[ -n "$SERVER_USER" && "$SERVER_USER" != root && "$SERVER_USER" != 0 ]] \
    || fail "$image runs as root: the Dockerfile must end with USER 10001"
  ((${#entry[@]} > 0)) || fail "$image has no ENTRYPOINT"
  SERVER_GRPC_PORT=$(flag_value --port 50051 "${SERVER_ARGS[@]}")
  SERVER_METRICS_PORT=$(flag_value --metrics-port 8002 "${SERVER_ARGS[@]}")
  SERVER_HTTP_PORT=$(flag_value --http-port 8000 "${SERVER_ARGS[@]}")
  local port
  for port in "$SERVER_GRPC_PORT" "$SERVER_METRICS_PORT" "$SERVER_HTTP_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      fail "port $port is already in use on this machine (the container shares its network)"
    fi
  done

  local c
  c=$(bh from --quiet "$image"); CONTAINERS+=("$c"); SERVER_CTR=$c
  HELPER=$(bh from --quiet "$image"); CONTAINERS+=("$HELPER")

  # The entrypoint's program, looked up on the image's PATH.
  bh run --user "$SERVER_USER" "$c" -- sh -c 'command -v "$1"' sh "${entry[0]}" >/dev/null \
    || fail "the entrypoint's program '${entry[0]}' is not in $image (ENTRYPOINT $(jq -c .Entrypoint <<<"$SERVER_CONFIG"))"
  # Every shared library the served and health-check programs load.
  local health_program missing
  health_program=$(jq -r '.Healthcheck.Test[1] // empty' <<<"$SERVER_CONFIG")
  missing=$(bh run "$c" -- sh -c 'for b in "$@"; do p=$(command -v "$b") || continue
      ldd "$p" | sed -n "s|^[[:space:]]*\([^[:space:]]*\) => not found.*|\1 (needed by $p)|p"; done' \
      sh "${entry[0]}" ${health_program:+"$health_program"})
  [[ -z "$missing" ]] || fail "missing runtime libraries in $image: $(echo $missing)" \
    "— scripts/runtime_packages.sh lists the packages the runtime stage installs"
  # The models: readable by the image's user, and not writable by it.
  local dir report
  while read -r dir; do
    report=$(bh run --user "$SERVER_USER" "${SERVER_VOLUMES[@]}" "$c" -- sh -c '
        [ -d "$1" ] || { echo "is not a directory"; exit 0; }
        bad=$(find "$1" ! -readable -print 2>/dev/null | head -3); [ -z "$bad" ] || { echo "is not readable: $bad"; exit 0; }
        bad=$(find "$1" -writable | head -3); [ -z "$bad" ] || echo "is writable: $bad"' sh "$dir")
    [[ -z "$report" ]] || fail "model folder $dir, for uid $SERVER_USER, $(echo $report)"
  done < <(model_dirs "${SERVER_ARGS[@]}")

  bh run --user "$SERVER_USER" "${SERVER_VOLUMES[@]}" "$c" -- "${SERVER_ARGS[@]}" >"$SERVER_LOG" 2>&1 &
  SERVER_RUN_PID=$!
  SERVER_PIDS+=("$SERVER_RUN_PID")
  SERVER_STARTED=$(now_ms)
  say "started ${SERVER_ARGS[*]} (as $SERVER_USER, from $image)"
}

server_alive() { kill -0 "$SERVER_RUN_PID" 2>/dev/null; }
server_log_tail() { tail -15 "$SERVER_LOG" | sed 's/^/    | /' >&2; }

# The image's HEALTHCHECK command, as declared, must pass within its start period.
wait_healthy() {
  local test=() kind start_period timeout
  mapfile -t test < <(jq -r '.Healthcheck.Test[]?' <<<"$SERVER_CONFIG")
  ((${#test[@]} > 1)) || fail "the image declares no HEALTHCHECK"
  kind=${test[0]}; test=("${test[@]:1}")
  [[ "$kind" == CMD-SHELL ]] && test=(/bin/sh -c "${test[*]}")
  start_period=$(jq -r '(.Healthcheck.StartPeriod // 0) / 1e9 | floor' <<<"$SERVER_CONFIG")
  timeout=$(jq -r '(.Healthcheck.Timeout // 30e9) / 1e9 | ceil' <<<"$SERVER_CONFIG")
  while :; do
    if ! server_alive; then
      server_log_tail; fail "the server exited before its health check passed (log above)"
    fi
    if timeout "$((timeout + 5))" buildah --storage-driver vfs run --user "$SERVER_USER" "$HELPER" -- "${test[@]}" >/dev/null 2>&1; then
      break
    fi
    if (($(now_ms) - SERVER_STARTED > start_period * 1000)); then
      server_log_tail; fail "HEALTHCHECK (${test[*]}) did not pass within the start period (${start_period} s)"
    fi
    sleep 1
  done
  say "healthy after $(seconds_since "$SERVER_STARTED") s (HEALTHCHECK: ${test[*]}; start period ${start_period} s)"
}

# beit-client inside the image, the bundled example images mounted at /examples.
client() {
  bh run --user "$SERVER_USER" -v "$REPO/$EXAMPLES:/examples:ro" "$HELPER" -- \
    beit-client --server "localhost:$SERVER_GRPC_PORT" "$@"
}

check_metrics() {
  local response
  response=$(exec 3<>"/dev/tcp/127.0.0.1/$SERVER_METRICS_PORT" \
             && printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3) \
    || fail "/metrics on port $SERVER_METRICS_PORT does not answer"
  grep -q '^HTTP/1\.[01] 200' <<<"$response" || fail "/metrics answered $(head -1 <<<"$response")"
  grep -q '^beit_build_info' <<<"$response" || fail "/metrics has no beit_build_info"
  say "/metrics answers ($(grep -c '^beit_' <<<"$response") beit_ samples)"
}

check_http_ready() {
  local response
  response=$(exec 3<>"/dev/tcp/127.0.0.1/$SERVER_HTTP_PORT" \
             && printf 'GET /v2/health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3) \
    || fail "the Open Inference Protocol's HTTP port $SERVER_HTTP_PORT does not answer"
  grep -q '^HTTP/1\.[01] 200' <<<"$response" || fail "/v2/health/ready answered $(head -1 <<<"$response")"
  say "/v2/health/ready answers 200 on port $SERVER_HTTP_PORT"
}

check_runs_as() {
  local want=$1 pid uids
  pid=$(descendant_named "$SERVER_RUN_PID" "$(basename "${SERVER_ARGS[0]}")") \
    || fail "no ${SERVER_ARGS[0]} process under the container"
  uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
  [[ "$uids" == "$want $want $want $want" ]] || fail "the server runs as uid(s) $uids, not $want"
  say "the server (pid $pid) runs as uid $want"
}

# SIGTERM to the server: it must drain and exit 0 within its grace period (+5 s).
stop_server() {
  local pid grace deadline rc=0 t0
  pid=$(descendant_named "$SERVER_RUN_PID" "$(basename "${SERVER_ARGS[0]}")") \
    || fail "no ${SERVER_ARGS[0]} process under the container"
  grace=$(flag_value --grace-period-s 15 "${SERVER_ARGS[@]}")
  t0=$(now_ms)
  deadline=$(($(date +%s) + grace + 5))
  kill -TERM "$pid"
  while server_alive && (($(date +%s) < deadline)); do sleep 0.2; done
  if server_alive; then
    server_log_tail; fail "the server did not stop within $((grace + 5)) s of SIGTERM"
  fi
  wait "$SERVER_RUN_PID" || rc=$?
  ((rc == 0)) || { server_log_tail; fail "the server exited with $rc after SIGTERM (want 0)"; }
  say "SIGTERM: exit 0 after $(seconds_since "$t0") s (grace period $grace s)"
}

# MB of the image's file system (uncompressed, what a node's disk holds), and its largest packages.
check_size() {
  local image=$1 mb
  mb=$(du -s --block-size=1000000 --apparent-size "$(bh mount "$HELPER")" | cut -f1)
  bh umount "$HELPER" >/dev/null
  say "image size: $mb MB (budget $SIZE_BUDGET_MB MB); largest packages (installed KB):"
  bh run "$HELPER" -- dpkg-query -W -f '${Installed-Size}\t${Package}\n' | sort -rn | head -8 | sed 's/^/    /'
  ((mb <= SIZE_BUDGET_MB)) || fail "$image is $mb MB, over its budget of $SIZE_BUDGET_MB MB"
}

finish_server() {
  local c
  for c in "$SERVER_CTR" "$HELPER"; do bh rm "$c" >/dev/null 2>&1 || true; done
}

# The image as built with its defaults, started as its entrypoint and command say.
check_default_image() {
  local image=$1 log=$CACHE/server.log json label
  start_server "$image" "$log"
  wait_healthy
  json=$(client classify --model cls --image /examples/sneaker.png) \
    || { server_log_tail; fail "Classify of the bundled example failed: $json"; }
  label=$(jq -r '.predictions[0].label' <<<"$json")
  [[ "$label" == Sneaker ]] || fail "Classify of examples/sneaker.png said '$label', want 'Sneaker'"
  say "Classify examples/sneaker.png: $label ($(jq -r '.predictions[0].score' <<<"$json"))"
  check_metrics
  check_http_ready
  check_runs_as 10001
  check_size "$image"
  stop_server
  finish_server
}

# The image built with MODEL_DIR=<the segmentation model> serves that model as "cls".
check_segmentation_image() {
  local image=$1 json architecture
  start_server "$image" "$CACHE/server-seg.log"
  wait_healthy
  architecture=$(client info --model cls | jq -r .architecture)
  [[ "$architecture" == BeitForSemanticSegmentation ]] \
    || fail "--build-arg MODEL_DIR=$SEG_MODEL_DIR: the image serves a $architecture, not the segmentation model"
  json=$(client segment --model cls --image /examples/sneaker.png) || fail "Segment failed: $json"
  [[ "$(jq -c '[.height, .width, ([.class_counts[].pixels] | add)]' <<<"$json")" == "[28,28,784]" ]] \
    || fail "Segment of a 28×28 image answered $(jq -c 'del(.stats)' <<<"$json")"
  say "MODEL_DIR=$SEG_MODEL_DIR baked in: served as cls ($architecture); Segment: $(jq -c '[.class_counts[] | "\(.label) \(.pixels)"]' <<<"$json")"
  stop_server
  finish_server
}

# --model NAME=DIR at run time replaces the baked-in model.
check_model_override() {
  local image=$1 names architecture json
  start_server "$image" "$CACHE/server-override.log" "$REPO/$OVERRIDE_MODEL_DIR:/models/override:ro" \
    -- --model tokens=/models/override
  wait_healthy
  names=$(client info | jq -c '[.models[].name]')
  [[ "$names" == '["tokens"]' ]] || fail "with --model tokens=... at run time the server hosts $names, want only tokens"
  architecture=$(client info --model tokens | jq -r .architecture)
  [[ "$architecture" == BeitForMaskedImageModeling ]] || fail "the run-time model is served as a $architecture"
  json=$(client predict-tokens --model tokens --image /examples/bag.png --mask-ratio 0.4 --seed 7) \
    || fail "PredictTokens on the run-time model failed: $json"
  if client classify --model cls --image /examples/bag.png >/dev/null 2>&1; then
    fail "the baked-in model cls still answers although --model replaced it"
  fi
  say "run-time --model tokens=/models/override replaced the baked-in cls ($architecture; $(jq '.patches | length' <<<"$json") patches predicted)"
  stop_server
  finish_server
}

build_image() {  # TAG [--build-arg ...]
  local tag=$1 t0; shift
  t0=$(now_ms)
  say "building docker/Dockerfile as $tag $* (log: $CACHE/build-${tag##*:}.log)"
  bh bud --isolation chroot --format docker --layers -f docker/Dockerfile -t "$tag" "$@" . \
    >"$CACHE/build-${tag##*:}.log" 2>&1 \
    || { tail -25 "$CACHE/build-${tag##*:}.log" >&2; fail "building $tag failed (log above)"; }
  say "built $tag in $(seconds_since "$t0") s"
}

# ---- self-test: a broken image must fail the check, with a message that names the fault ----

# derive NAME CONFIG_ARGS... -- SHELL_COMMAND_AS_ROOT: an image from $IMAGE with one fault.
derive() {
  local tag=$1 c config=(); shift
  while [[ "$1" != "--" ]]; do config+=("$1"); shift; done; shift
  c=$(bh from --quiet "$IMAGE"); CONTAINERS+=("$c")
  [[ -z "$1" ]] || bh run --user 0 "$c" -- sh -c "$1"
  ((${#config[@]} == 0)) || bh config "${config[@]}" "$c" 2>/dev/null
  bh commit --quiet --format docker "$c" "$tag" >/dev/null
  bh rm "$c" >/dev/null
}

expect_check_fails() {  # IMAGE EXPECTED_MESSAGE_REGEX WHAT
  local image=$1 want=$2 what=$3 out rc=0
  out=$("$0" --image "$image" 2>&1) || rc=$?
  ((rc != 0)) || fail "self-test: the check passed on an image with $what"
  grep -Eq "$want" <<<"$out" || { echo "$out" | tail -5 >&2; fail "self-test: with $what the check failed without saying so (want /$want/)"; }
  say "self-test: $what → $(grep -E 'FAIL' <<<"$out" | head -1 | sed 's/^container_check: //')"
}

self_test() {
  local lib
  lib=$(bh run "$HELPER_FOR_SELF_TEST" -- sh -c 'ls /usr/lib/x86_64-linux-gnu/libdnnl.so.* | head -1')
  derive localhost/beit-serve:broken-library -- "rm -f /usr/lib/x86_64-linux-gnu/libdnnl.so.*"
  expect_check_fails localhost/beit-serve:broken-library "missing runtime libraries.*libdnnl" "$(basename "$lib") removed"
  derive localhost/beit-serve:broken-model -- "chmod -R go-rwx /models/cls"
  expect_check_fails localhost/beit-serve:broken-model "model folder /models/cls.*not readable" "the model unreadable to uid 10001"
  derive localhost/beit-serve:broken-entrypoint --entrypoint '["beit-serve", "--port", "50051"]' -- ""
  expect_check_fails localhost/beit-serve:broken-entrypoint "entrypoint's program 'beit-serve' is not in" "a wrong entrypoint"
  bh rmi localhost/beit-serve:broken-library localhost/beit-serve:broken-model localhost/beit-serve:broken-entrypoint >/dev/null
}

# ---- main ----

mkdir -p "$CACHE"
if [[ -n "$CHECK_ONLY_IMAGE" ]]; then
  check_default_image "$CHECK_ONLY_IMAGE"
  exit 0
fi
T0=$(now_ms)
# Earlier runs' untagged layers (vfs keeps a full copy of each): gone before this run adds its own.
bh rmi --prune >/dev/null 2>&1 || true
ensure_base_image
build_image "$IMAGE"
check_default_image "$IMAGE"
build_image "$IMAGE_SEG" --build-arg "MODEL_DIR=$SEG_MODEL_DIR"
check_segmentation_image "$IMAGE_SEG"
check_model_override "$IMAGE"
if ((SELF_TEST)); then
  HELPER_FOR_SELF_TEST=$(bh from --quiet "$IMAGE"); CONTAINERS+=("$HELPER_FOR_SELF_TEST")
  self_test
fi
say "all checks passed in $(seconds_since "$T0") s"
