// The CPU tier decision (model/ops/cpu_tier.h): it follows oneDNN's effective ISA, so capping it with
// ONEDNN_MAX_CPU_ISA changes which of our kernels run and which precisions load — seen here
// through `beit-run --cpu-info` in a child process at each cap the machine can honour.
#include "model/ops/cpu_tier.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "model/model_error.h"
#include "model/model_runner.h"

namespace beit {
namespace {

// beit-run --cpu-info under ONEDNN_MAX_CPU_ISA=cap (no cap when empty), as key -> value.
std::map<std::string, std::string> CpuInfo(const std::string& cap) {
  const std::string cmd = (cap.empty() ? "env -u ONEDNN_MAX_CPU_ISA " : "env ONEDNN_MAX_CPU_ISA=" + cap + " ") +
                          std::string(BEIT_RUN_BINARY) + " --cpu-info";
  std::map<std::string, std::string> info;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return info;
  char line[1024];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    const size_t colon = s.find(": ");
    if (colon != std::string::npos) info[s.substr(0, colon)] = s.substr(colon + 2);
  }
  EXPECT_EQ(pclose(pipe), 0) << cmd;
  return info;
}

TEST(CpuTier, NamesFollowOnednnSpelling) {
  EXPECT_STREQ(CpuTierName(CpuTier::kAvx2), "avx2");
  EXPECT_STREQ(CpuTierName(CpuTier::kAvx512CoreBf16), "avx512_core_bf16");
  EXPECT_STREQ(CpuTierName(CpuTier::kPortable), "portable");
}

TEST(CpuTier, ThisProcessAndAnUncappedChildAgreeWhenUncapped) {
  if (std::getenv("ONEDNN_MAX_CPU_ISA")) GTEST_SKIP() << "this process is capped (CI runs the tiers this way)";
  EXPECT_EQ(CpuInfo("")["cpu_tier"], CpuTierName(EffectiveCpuTier()));
}

TEST(CpuTier, CappingAtAvx2RunsTheAvx2Kernels) {
  if (!TierHasAvx2(EffectiveCpuTier())) GTEST_SKIP() << "this CPU has no AVX2";
  auto info = CpuInfo("AVX2");
  EXPECT_EQ(info["cpu_tier"], "avx2");
  EXPECT_EQ(info["fused_attention_f32"], "avx2_f32");
  EXPECT_EQ(info["fused_attention_bf16"].rfind("none", 0), 0u) << info["fused_attention_bf16"];
  EXPECT_EQ(info["int8_weight_bits"], "7");
  EXPECT_EQ(info["precision_f32"], "yes");
  EXPECT_EQ(info["precision_int8"], "yes");
  EXPECT_EQ(info["precision_bf16"].rfind("no: precision bf16 needs a CPU with AVX512-BF16", 0), 0u)
      << info["precision_bf16"];
}

TEST(CpuTier, CappingAtEachAvx512TierRunsItsKernels) {
  struct Expect {
    CpuTier tier;
    const char* cap;
    const char* f32_kernel;
    bool bf16;
    const char* weight_bits;
  };
  for (const Expect& e : {Expect{CpuTier::kAvx512Core, "AVX512_CORE", "avx512_f32", false, "7"},
                          Expect{CpuTier::kAvx512CoreVnni, "AVX512_CORE_VNNI", "avx512_f32", false, "8"},
                          Expect{CpuTier::kAvx512CoreBf16, "AVX512_CORE_BF16", "avx512_f32", true, "8"}}) {
    if (EffectiveCpuTier() < e.tier) continue;  // above this CPU (or this process's cap)
    SCOPED_TRACE(e.cap);
    auto info = CpuInfo(e.cap);
    EXPECT_EQ(info["cpu_tier"], CpuTierName(e.tier));
    EXPECT_EQ(info["fused_attention_f32"], e.f32_kernel);
    EXPECT_EQ(info["fused_attention_bf16"], e.bf16 ? "avx512_bf16" : "none (oneDNN primitives)");
    EXPECT_EQ(info["precision_bf16"] == "yes", e.bf16) << info["precision_bf16"];
    EXPECT_EQ(info["int8_weight_bits"], e.weight_bits);
  }
}

TEST(CpuTier, BelowAvx2OnlyF32RunsOnPortableCode) {
  auto info = CpuInfo("SSE41");
  EXPECT_EQ(info["cpu_tier"], "portable");
  EXPECT_EQ(info["fused_attention_f32"].rfind("none", 0), 0u);
  EXPECT_EQ(info["precision_f32"], "yes");
  EXPECT_EQ(info["precision_int8"].rfind("no: precision int8 needs a CPU with AVX2", 0), 0u) << info["precision_int8"];
}

// Loading at a precision the tier cannot run is a ModelError in one line, never oneDNN's words.
TEST(CpuTier, LoadRefusesAnUnsupportedPrecisionClearly) {
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    const auto why = PrecisionUnsupportedReason(p);
    if (!why) continue;
    try {
      ModelRunner::Load(std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool", nullptr, p);
      ADD_FAILURE() << PrecisionName(p) << " loaded at tier " << CpuTierName(EffectiveCpuTier());
    } catch (const ModelError& e) {
      EXPECT_EQ(std::string(e.what()), *why);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace beit
