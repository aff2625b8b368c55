#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (Release and ASan+UBSan), runs the whole
# suite on both builds with ctest, the engine's tests again at every lower CPU tier the machine
# has (ONEDNN_MAX_CPU_ISA caps oneDNN and our own kernels alike: model/ops/cpu_tier.h) and the
# served-model tests at the lowest supported tier (AVX2), the engine's and the served-model tests
# with the AMX tier's kernel choices (BEIT_KERNEL_POLICY=amx, on any CPU), the concurrency tests under
# ThreadSanitizer, each fuzzer briefly, and last the container image built from
# docker/Dockerfile, started and checked (scripts/container_check.sh --self-test). The `long`
# label (a minute of overload) is left out: ctest --test-dir build -L long; the `train` label
# (Python training tools) runs once, in the Release pass.
# This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Each stage's header says when it starts, so a slow stage shows in CI's log (budget: 30 min).
stage() { echo "== $* (at $((SECONDS / 60))m$((SECONDS % 60))s)"; }

scripts/install_deps.sh --dev

stage "Release build and tests"
scripts/build.sh
NATIVE_TIER=$(env -u ONEDNN_MAX_CPU_ISA build/tools/beit-run --cpu-info | sed -n 's/^cpu_tier: //p')
echo "== CPU tier: $NATIVE_TIER (native)"
env -u ONEDNN_MAX_CPU_ISA ctest --test-dir build --output-on-failure -j2 -LE long

stage "The engine's tests and golden fixtures at each lower CPU tier (label model)"
# ONEDNN_MAX_CPU_ISA caps oneDNN and our own kernels together; a cap above the CPU gives a lower
# tier, which beit-run --cpu-info reports: such tiers are skipped, and said so.
ran=("$NATIVE_TIER (native, all labels)") skipped=()
for tier in AVX2 AVX512_CORE AVX512_CORE_VNNI AVX512_CORE_BF16 AVX512_CORE_AMX; do
  name=${tier,,}
  [[ "$name" == "$NATIVE_TIER" ]] && continue
  got=$(ONEDNN_MAX_CPU_ISA=$tier build/tools/beit-run --cpu-info | sed -n 's/^cpu_tier: //p')
  if [[ "$got" != "$name" ]]; then skipped+=("$name (above this CPU)"); continue; fi
  echo "-- tier $name (at $((SECONDS / 60))m$((SECONDS % 60))s)"
  ONEDNN_MAX_CPU_ISA=$tier ctest --test-dir build --output-on-failure -j2 -L model
  ran+=("$name")
done
if [[ "$NATIVE_TIER" != "avx2" ]]; then
  echo "-- served models at the lowest supported tier, avx2 (the model-serving server suites)"
  ONEDNN_MAX_CPU_ISA=AVX2 ctest --test-dir build --output-on-failure -j2 -L server \
    -R '^(ServedModel|BeitServiceTest|BundledModelsTest|BeitServiceBf16|ServerLifecycle)\.'
fi
echo "== CPU tiers: ran ${ran[*]}; served models at avx2 and native; skipped: ${skipped[*]:-none}"

stage "The AMX tier's kernel choices on this CPU (BEIT_KERNEL_POLICY=amx), and bf16 kernels as on a CPU whose vdpbf16ps is slow"
# model/ops/kernel_policy.h: the instructions stay this tier's, the choices (whole-batch matmuls,
# the int8 epilogue inside oneDNN's matmul, bf16 attention on oneDNN's matmuls) become the AMX
# tier's, so the paths an AMX CPU takes are proven here on any CPU.
BEIT_KERNEL_POLICY=amx ctest --test-dir build --output-on-failure -j2 -L model
BEIT_KERNEL_POLICY=amx ctest --test-dir build --output-on-failure -j2 -L server \
  -R '^(ServedModel|BeitServiceTest|BundledModelsTest|BeitServiceBf16)\.'
BEIT_KERNEL_POLICY=slow_bf16 ctest --test-dir build --output-on-failure -j2 -L model

stage "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
scripts/build.sh --sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -LE "long|train"

stage "ThreadSanitizer: the batcher, worker pool, served model under concurrent load, logger, beit-client's bulk runner and progress meter, the HTTP server, the model repository (core and manager)"
# (The gRPC end-to-end tests are not run under TSan: Debian's gRPC and Abseil are not instrumented,
# so TSan cannot see their synchronisation and reports only false positives inside them. For the
# same reason with libgomp, the model computes with one OpenMP thread per call here: the server's
# own threads still run concurrently, OpenMP's fork/join is what TSan cannot follow.)
TSAN_TESTS=(dynamic_batcher_test worker_pool_test served_model_test compute_executor_test request_path_test logger_test bulk_runner_test progress_meter_test
            http_server_test model_repository_test repository_manager_test)
scripts/build.sh --tsan "${TSAN_TESTS[@]}"
for t in "${TSAN_TESTS[@]}"; do
  OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "build-tsan/tests/$t" --gtest_brief=1
done

stage "libFuzzer: each target for a bounded time (clang, ASan+UBSan)"
scripts/fuzz.sh "${BEIT_FUZZ_SECONDS:-30}"

stage "The container image: docker/Dockerfile built with buildah, started as its user, checked"
scripts/container_check.sh --self-test

echo "== every test passed in $((SECONDS / 60))m$((SECONDS % 60))s"
