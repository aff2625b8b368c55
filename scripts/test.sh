#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (Release and ASan+UBSan), runs the whole
# suite on both builds with ctest, then runs each decoder fuzzer briefly. This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

scripts/install_deps.sh --dev

echo "== Release build and tests"
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 -LE long

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
scripts/build.sh --sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -LE long

echo "== libFuzzer: each decoder for a bounded time (clang, ASan+UBSan)"
scripts/fuzz.sh "${BEIT_FUZZ_SECONDS:-30}"
