// Skips a test whose precision the CPU tier this process computes at cannot run (for example
// bf16 below avx512_core_bf16, as when CI caps the tier with ONEDNN_MAX_CPU_ISA=AVX2), saying why.
// The refusal itself is tested where it is made (cpu_tier_test, the server's startup tests).
#pragma once

#include <gtest/gtest.h>

#include "model/cpu_tier.h"

#define BEIT_SKIP_UNLESS_TIER_RUNS(precision)                                  \
  do {                                                                         \
    if (auto why = ::beit::PrecisionUnsupportedReason(precision)) GTEST_SKIP() << *why; \
  } while (0)
