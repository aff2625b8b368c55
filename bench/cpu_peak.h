// The CPU's own multiply-add ceiling, measured: what the cores do when nothing but multiply-adds
// runs, with every operand in registers.
//
// Why: beit-bench reports efficiency against oneDNN's matmul, but that is itself a program; the
// ceiling tells how far any implementation (ours, ONNX Runtime, PyTorch) could go on this machine
// — a target that needs more than it cannot be met here.
//
// Contract:
// - MeasureCpuPeakGflops(precision, threads, seconds) runs `threads` OpenMP threads, each a loop
//   of 12 independent vector multiply-add chains for about `seconds`, and returns GFLOP/s over all
//   threads (a multiply-add counts 2). The instructions are those of the CPU tier the engine runs
//   at (model/ops/cpu_tier.h, so ONEDNN_MAX_CPU_ISA caps the probe too):
//     f32:  vfmadd231ps on 512-bit vectors (AVX-512 tiers) or 256-bit ones (AVX2 tiers; Zen 2/3 and
//           Intel cores issue two per cycle);
//     bf16: vdpbf16ps, 512-bit (avx512_core_bf16 and above);
//     int8: vpdpbusd, 512-bit (avx512_core_vnni and above) or 256-bit (avx2_vnni); without VNNI
//           vpmaddubsw (u8 x s8 pairs into s16), 512-bit at avx512_core, 256-bit at avx2: the
//           multiplies only — the kernels there also spend instructions widening the sums, so
//           this ceiling is one no int8 kernel reaches. As GOP/s.
//   At the AMX tier (avx512_core_amx) bf16 and int8 time the tile units instead: tdpbf16ps and
//   tdpbusd on four independent 16x16 accumulator tiles (after asking Linux for the tile state
//   with arch_prctl(ARCH_REQ_XCOMP_PERM), as oneDNN does; 0 if that is refused). Written from
//   Intel's documented semantics; it runs only on an AMX CPU, so CI on other machines compiles it
//   without running it.
// - Returns 0 when the tier has no instruction for the precision (bf16 below avx512_core_bf16,
//   anything at the portable tier), or the precision is unknown. CpuPeakInstruction() names what
//   was (or would be) timed, "" for none.
#pragma once

#include <string>

namespace beit {

double MeasureCpuPeakGflops(const std::string& precision, int threads, double seconds);
std::string CpuPeakInstruction(const std::string& precision);

}  // namespace beit
