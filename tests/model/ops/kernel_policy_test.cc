// The kernel policy (model/ops/kernel_policy.h): the table each tier takes, the override tests and
// benchmarks use to run the AMX tier's choices on any CPU, and its refusal of unknown values —
// seen through `beit-run --cpu-info` in child processes, since a process decides its policy once.
#include "model/ops/kernel_policy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "model/ops/cpu_tier.h"

namespace beit {
namespace {

struct Child {
  std::string output;
  int status = -1;
};

// beit-run --cpu-info with BEIT_KERNEL_POLICY=policy (unset when empty), stdout and stderr.
Child CpuInfo(const std::string& policy) {
  const std::string cmd = (policy.empty() ? "env -u BEIT_KERNEL_POLICY " : "env BEIT_KERNEL_POLICY='" + policy + "' ") +
                          std::string(BEIT_RUN_BINARY) + " --cpu-info 2>&1";
  Child child;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return child;
  char buffer[1024];
  while (std::fgets(buffer, sizeof buffer, pipe)) child.output += buffer;
  child.status = pclose(pipe);
  return child;
}

std::string PolicyLine(const Child& child) {
  const size_t at = child.output.find("kernel_policy: ");
  if (at == std::string::npos) return "";
  return child.output.substr(at + 15, child.output.find('\n', at) - at - 15);
}

TEST(KernelPolicy, NativeTableFollowsTheTier) {
  const CpuTier tier = EffectiveCpuTier();
  const Child child = CpuInfo("");
  ASSERT_EQ(child.status, 0) << child.output;
  const std::string line = PolicyLine(child);
  if (tier >= CpuTier::kAvx512CoreAmx) {
    EXPECT_EQ(line.rfind("amx ", 0), 0u) << line;
    return;
  }
  EXPECT_EQ(line.rfind("native ", 0), 0u) << line;
  EXPECT_NE(line.find("bf16_attention_on_onednn=0"), std::string::npos) << line;
  EXPECT_NE(line.find(TierHasVnni(tier) ? "int8_max_rows=512" : "int8_max_rows=0"), std::string::npos) << line;
  if (!TierHasBf16(tier)) {
    EXPECT_NE(line.find("bf16_dot_products_fast=0"), std::string::npos) << line;
  }
}

TEST(KernelPolicy, AmxChoicesCanBeForcedOnAnyTier) {
  const Child child = CpuInfo("amx");
  ASSERT_EQ(child.status, 0) << child.output;
  EXPECT_EQ(PolicyLine(child),
            "amx linear_whole_batch=1 int8_max_rows=0 int8_fused_epilogue=1 bf16_attention_on_onednn=1 "
            "bf16_dot_products_fast=0");
  // The tier itself is not changed: only the choices are.
  EXPECT_NE(child.output.find(std::string("cpu_tier: ") + CpuTierName(EffectiveCpuTier())), std::string::npos);
}

TEST(KernelPolicy, SingleChoicesCanBeChangedForMeasuring) {
  const Child child = CpuInfo("slow_bf16,linear_whole_batch=0,int8_max_rows=256");
  ASSERT_EQ(child.status, 0) << child.output;
  const std::string line = PolicyLine(child);
  EXPECT_EQ(line.rfind("slow_bf16,linear_whole_batch=0,int8_max_rows=256 linear_whole_batch=0 int8_max_rows=256", 0),
            0u)
      << line;
  EXPECT_NE(line.find("bf16_dot_products_fast=0"), std::string::npos) << line;
}

TEST(KernelPolicy, UnknownValuesAreRefusedInOneLine) {
  for (const std::string bad : {"fastest", "amx,unknown_choice=1", "native,linear_whole_batch=maybe"}) {
    const Child child = CpuInfo(bad);
    EXPECT_NE(child.status, 0) << bad;
    EXPECT_NE(child.output.find("BEIT_KERNEL_POLICY"), std::string::npos) << child.output;
    EXPECT_EQ(child.output.find("dnnl"), std::string::npos) << child.output;
  }
}

TEST(KernelPolicy, Bf16AttentionOnlyWhereItIsFast) {
  // f32 models never take bf16 attention operands; reduced precisions do only with native bf16
  // and a policy that runs them fast.
  EXPECT_FALSE(AttentionUsesBf16(Precision::kF32));
  const KernelPolicy& p = ActiveKernelPolicy();
  const bool want = TierHasBf16(EffectiveCpuTier()) && (p.bf16_attention_on_onednn || p.bf16_dot_products_fast);
  EXPECT_EQ(AttentionUsesBf16(Precision::kBF16), want) << KernelPolicyName();
  EXPECT_EQ(AttentionUsesBf16(Precision::kInt8), want) << KernelPolicyName();
  if (!TierHasBf16(EffectiveCpuTier())) {
    EXPECT_FALSE(Bf16DotProductsOutpaceF32());
  }
}

}  // namespace
}  // namespace beit
