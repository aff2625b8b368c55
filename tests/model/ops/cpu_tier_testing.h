// What tests may expect at the CPU tier this process computes at (model/ops/cpu_tier.h; CI caps it
// with ONEDNN_MAX_CPU_ISA to run every tier).
// - BEIT_SKIP_UNLESS_TIER_RUNS(precision) skips a test of a precision the tier cannot run (bf16
//   below avx512_core_bf16), saying why; the refusal itself is tested where it is made
//   (cpu_tier_test, the server's startup tests).
// - ExpectSameAnswerAsAlone(together, alone, precision): a value computed in a batch against the
//   same request computed alone — equal to the bit where the tier promises it
//   (BatchedAnswersAreBitIdentical), otherwise within kBatchRounding relative (f32 at AVX2 tiers;
//   measured up to 2e-7 on a Linear's outputs).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/ops/cpu_tier.h"
#include "model/ops/kernel_policy.h"

#define BEIT_SKIP_UNLESS_TIER_RUNS(precision)                                           \
  do {                                                                                  \
    if (auto why = ::beit::PrecisionUnsupportedReason(precision)) GTEST_SKIP() << *why; \
  } while (0)

namespace beit {

constexpr float kBatchRounding = 1e-5f;

inline void ExpectSameAnswerAsAlone(float together, float alone, Precision precision = Precision::kF32) {
  if (BatchedAnswersAreBitIdentical(precision)) {
    EXPECT_EQ(together, alone) << "bit-identical at tier " << CpuTierName(EffectiveCpuTier());
  } else {
    EXPECT_NEAR(together, alone, kBatchRounding * std::max(1.f, std::fabs(alone)));
  }
}

}  // namespace beit
