// What computes the model on this machine, for startup logs and build-info metrics, without
// exposing oneDNN to callers.
//
// Contract: ComputeBackendVersion() is e.g. "oneDNN 2.6.3"; ComputeBackendIsa() names the
// CPU tier the engine computes at (cpu_tier.h: oneDNN's effective ISA, e.g. "avx2" or
// "avx512_core_bf16"; ONEDNN_MAX_CPU_ISA caps it); ComputeThreads() is the
// OpenMP thread count a forward will use (OMP_NUM_THREADS); SetComputeThreads changes it for the
// process. MeasureMatmulGflops times oneDNN's own matmul [m,k]x[k,n] in `precision` (f32 output;
// weights in the layout
// oneDNN prefers) for about `seconds` and returns its GFLOP/s: the roofline benchmarks compare to.
#pragma once

#include <string>

#include "model/ops/precision.h"

namespace beit {

std::string ComputeBackendVersion();
std::string ComputeBackendIsa();
int ComputeThreads();
void SetComputeThreads(int threads);
double MeasureMatmulGflops(int m, int k, int n, double seconds, Precision precision = Precision::kF32);

}  // namespace beit
