#!/usr/bin/env bash
# model/ops/cpu_baseline.cc: every executable refuses a CPU below x86-64-v3 in one line, exit code 4,
# instead of dying of SIGILL; a CPU at the baseline passes the check. The CPUs are emulated with
# qemu-user (Debian's qemu-user): Nehalem (SSE4.2, no AVX) below, Haswell (AVX2, FMA, BMI2) at it.
# Usage: cpu_baseline_test.sh EXECUTABLE...
set -uo pipefail
if [[ "$(uname -m)" != "x86_64" ]]; then echo "not x86-64: no baseline to check"; exit 0; fi
if ! command -v qemu-x86_64 >/dev/null; then
  echo "cpu_baseline_test: qemu-x86_64 not found (scripts/install_deps.sh --dev installs qemu-user)" >&2
  exit 1
fi
failed=0
for exe in "$@"; do
  out=$(qemu-x86_64 -cpu Nehalem "$exe" --help 2>&1); rc=$?
  if [[ $rc -ne 4 || $(printf '%s\n' "$out" | wc -l) -ne 1 || "$out" != *"lacks AVX2, FMA or BMI2 (x86-64-v3)"* ]]; then
    echo "FAIL $(basename "$exe") on Nehalem: exit $rc, output: $out"; failed=1
  else
    echo "ok   $(basename "$exe") on Nehalem: exit 4, \"$out\""
  fi
  out=$(qemu-x86_64 -cpu Haswell "$exe" --help 2>&1); rc=$?
  if [[ "$out" == *"lacks AVX2"* ]]; then
    echo "FAIL $(basename "$exe") on Haswell: refused a CPU at the baseline (exit $rc)"; failed=1
  else
    echo "ok   $(basename "$exe") on Haswell: passes the check"
  fi
done
exit $failed
