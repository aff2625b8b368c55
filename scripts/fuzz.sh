#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time, seeded with
# its corpus in tests/fuzz/seeds/ (made by make_seeds.py). Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
# New inputs found go to build-fuzz/corpus/<target>/ and crashing ones to build-fuzz/<target>-crash-*,
# never into the repository; a fixed crash is kept as a seed named regression-* in tests/fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (scripts/install_deps.sh --dev installs it)" >&2
  exit 1
fi
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBEIT_FUZZ=ON \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
cmake --build build-fuzz -j "${BEIT_BUILD_JOBS:-2}"
# target:seed-corpus pairs
for pair in jpeg_decoder_fuzzer:images png_decoder_fuzzer:images safetensors_fuzzer:safetensors config_fuzzer:config \
            request_validation_fuzzer:requests flax_checkpoint_fuzzer:flax \
            torch_checkpoint_fuzzer:torch bytes_tensor_fuzzer:bytes_tensor \
            http_infer_request_fuzzer:http_infer http_request_fuzzer:http_request; do
  target=${pair%%:*}
  seeds=tests/fuzz/seeds/${pair##*:}
  corpus=build-fuzz/corpus/$target
  mkdir -p "$corpus"
  echo "== $target for ${SECONDS_PER_TARGET}s"
  log=build-fuzz/$target.log
  max_len=20000
  case $target in  # their seeds are whole checkpoints of about 100 KB
    torch_checkpoint_fuzzer | flax_checkpoint_fuzzer) max_len=131072 ;;
  esac
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
        -artifact_prefix="build-fuzz/$target-" \
        -timeout=10 -max_len="$max_len" -print_final_stats=1 "$corpus" "$seeds" >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz.sh: $target failed; the crashing input is named in the log above ($log)" >&2
    exit 1
  fi
  grep -E '^(INFO: seed corpus|Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
done
