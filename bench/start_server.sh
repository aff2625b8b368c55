# shellcheck shell=bash
# Sourced by the benchmark scripts: start_server LOG_PREFIX ARG... starts $BUILD/server/beit-server
# with ARG... on a free port (no metrics, no HTTP; SERVER_ENV, "VAR=VALUE ...", for it alone),
# waits for it to listen, and sets SERVER_PID and SERVER_PORT; on failure it prints the server's
# log and exits. stop_server ends it (SIGTERM).
start_server() {
  local prefix=$1
  shift
  # shellcheck disable=SC2086
  env ${SERVER_ENV:-} "$BUILD/server/beit-server" --port 0 --metrics-port -1 --http-port -1 "$@" > "$prefix.out" 2> "$prefix.log" &
  SERVER_PID=$!
  for _ in $(seq 600); do grep -q listening "$prefix.out" 2>/dev/null && break; sleep 0.1; done
  SERVER_PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$prefix.out")
  [[ -n "$SERVER_PORT" ]] || { cat "$prefix.log"; exit 1; }
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" || true
  SERVER_PID=
}
