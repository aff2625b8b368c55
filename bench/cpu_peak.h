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
//   threads (a multiply-add counts 2): "f32" times vfmadd231ps, "bf16" vdpbf16ps (2 products per
//   32-bit lane), "int8" vpdpbusd (4 products per lane, GOP/s), all on 512-bit vectors.
// - Returns 0 when the CPU lacks the instruction (AVX-512F / AVX512-BF16 / AVX512-VNNI) or the
//   precision is unknown.
#pragma once

#include <string>

namespace beit {

double MeasureCpuPeakGflops(const std::string& precision, int threads, double seconds);

}  // namespace beit
