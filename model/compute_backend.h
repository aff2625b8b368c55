// What computes the model on this machine, for startup logs and build-info metrics, without
// exposing oneDNN to callers.
//
// Contract: ComputeBackendVersion() is e.g. "oneDNN 2.6.3"; ComputeBackendIsa() names the
// instruction set oneDNN dispatches to here (e.g. "avx512_core_bf16"); ComputeThreads() is the
// OpenMP thread count a forward will use (OMP_NUM_THREADS).
#pragma once

#include <string>

namespace beit {

std::string ComputeBackendVersion();
std::string ComputeBackendIsa();
int ComputeThreads();

}  // namespace beit
