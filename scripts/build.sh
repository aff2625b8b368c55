#!/usr/bin/env bash
# Configures and builds beit-serve. Usage: scripts/build.sh [--sanitize | --tsan [TARGET...]]
# BEIT_BUILD_TESTS=OFF skips the test suite (it needs the --dev packages).
#   default     -> build/        (Release, -O3 -march=x86-64-v3)
#   --sanitize  -> build-asan/   (AddressSanitizer + UndefinedBehaviorSanitizer, -O1)
#   --tsan      -> build-tsan/   (ThreadSanitizer, -O1)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${BEIT_BUILD_JOBS:-2}
if [[ "${1:-}" == "--sanitize" ]]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBEIT_SANITIZE=ON -DBEIT_BUILD_TESTS="${BEIT_BUILD_TESTS:-ON}" \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
  cmake --build build-asan -j "$JOBS"
elif [[ "${1:-}" == "--tsan" ]]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBEIT_TSAN=ON -DBEIT_BUILD_TESTS="${BEIT_BUILD_TESTS:-ON}" \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
  shift
  cmake --build build-tsan -j "$JOBS" ${1:+--target "$@"}
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBEIT_BUILD_TESTS="${BEIT_BUILD_TESTS:-ON}" >/dev/null
  cmake --build build -j "$JOBS"
fi
