#include "model/ops/kernel_policy.h"

#include <chrono>
#include <cstdlib>
#include <sstream>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "model/model_error.h"
#include "model/ops/cpu_tier.h"

namespace beit {
namespace {

// The AMX tier's table (measured on a Xeon with AMX: ../shared/perf/amx-2026-12, bench/RESULTS.md):
// whole-batch matmuls (bf16 2100 against 970-1130 GFLOP/s per image; int8 3800 against 1900-2400
// GOP/s in 394-row slices), the epilogue inside the int8 matmul, bf16 attention on the tiles.
KernelPolicy AmxTable() {
  KernelPolicy p;
  p.name = "amx";
  p.linear_whole_batch = true;
  p.int8_max_rows = 0;
  p.int8_fused_epilogue = true;
  p.bf16_attention_on_onednn = true;
  return p;
}

KernelPolicy NativeTable(CpuTier tier) {
  if (tier >= CpuTier::kAvx512CoreAmx) return AmxTable();
  KernelPolicy p;
  p.name = "native";
  // AVX-512 (brgemm): whole-batch rows measured as fast and bit-identical to one image alone
  // (tests/model/ops/linear_test.cc holds every tier to it). AVX2: oneDNN's GEMM, whole batch
  // (one matmul per image cost 19 % there; its answers move within float rounding).
  p.linear_whole_batch = true;
  // int8 with VNNI: 394-row slices keep the quantised input and product in cache (10 % faster on
  // BEiT-base batch 8 with the separate epilogue); without VNNI oneDNN's GEMM runs whole faster.
  p.int8_max_rows = TierHasVnni(tier) ? 512 : 0;
  // The epilogue inside oneDNN's VNNI brgemm cost 10 % of BEiT-base int8 throughput on a Zen 5
  // (bench/RESULTS.md): a second pass measures faster there.
  p.int8_fused_epilogue = false;
  p.bf16_attention_on_onednn = false;
  p.bf16_dot_products_fast = Bf16DotProductsOutpaceF32();
  return p;
}

bool ParseFlag(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  throw ModelError("BEIT_KERNEL_POLICY: " + key + " takes 0 or 1, not '" + value + "'");
}

// "NAME[,key=value...]": a table, then single choices changed (for measuring one choice).
KernelPolicy FromEnvironment(const char* text) {
  std::stringstream items(text ? text : "");
  std::string item;
  std::getline(items, item, ',');
  KernelPolicy p;
  const CpuTier tier = EffectiveCpuTier();
  if (item.empty() || item == "native") {
    p = NativeTable(tier);
  } else if (item == "amx") {
    p = AmxTable();
  } else if (item == "slow_bf16") {
    p = NativeTable(tier);
    p.name = "slow_bf16";
    p.bf16_dot_products_fast = false;
  } else {
    throw ModelError("BEIT_KERNEL_POLICY='" + std::string(text) +
                     "': expected native, amx or slow_bf16, optionally followed by ,key=value");
  }
  while (std::getline(items, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "linear_whole_batch") {
      p.linear_whole_batch = ParseFlag(key, value);
    } else if (key == "int8_max_rows") {
      p.int8_max_rows = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "int8_fused_epilogue") {
      p.int8_fused_epilogue = ParseFlag(key, value);
    } else if (key == "bf16_attention_on_onednn") {
      p.bf16_attention_on_onednn = ParseFlag(key, value);
    } else if (key == "bf16_dot_products_fast") {
      p.bf16_dot_products_fast = ParseFlag(key, value);
    } else {
      throw ModelError("BEIT_KERNEL_POLICY: unknown choice '" + key + "'");
    }
    p.name += "," + item;
  }
  return p;
}

#if defined(__x86_64__)
constexpr int kChains = 8;
constexpr int kSteps = 1 << 13;

// Seconds for kSteps steps of kChains independent chains: vdpbf16ps (64 flops a step) when
// `bf16`, else vfmadd231ps (32 flops a step).
template <bool kBf16>
__attribute__((target("avx512f,avx512bw,avx512bf16"), noinline)) double TimeChains(float* sink) {
  __m512 r[kChains];
  for (int i = 0; i < kChains; ++i) r[i] = _mm512_set1_ps(float(i));
  const __m512 a = _mm512_castsi512_ps(_mm512_set1_epi32(0x3F803F80));
  const auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < kSteps; ++it) {
#pragma GCC unroll 8
    for (int i = 0; i < kChains; ++i) {
      if constexpr (kBf16) {
        r[i] = _mm512_dpbf16_ps(r[i], (__m512bh)_mm512_castps_si512(a), (__m512bh)_mm512_castps_si512(a));
      } else {
        r[i] = _mm512_fmadd_ps(a, a, r[i]);
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  __m512 total = r[0];
  for (int i = 1; i < kChains; ++i) total = _mm512_add_ps(total, r[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, total);
  for (float lane : lanes) *sink += lane;
  return seconds;
}

bool MeasureBf16Faster() {
  float sink = 0;
  double best_bf16 = 1e9, best_f32 = 1e9;
  for (int round = 0; round < 5; ++round) {  // best of five: the first rounds also warm the clocks
    best_f32 = std::min(best_f32, TimeChains<false>(&sink));
    best_bf16 = std::min(best_bf16, TimeChains<true>(&sink));
  }
  volatile float keep = sink;
  (void)keep;
  // Equal step counts: bf16 does twice the flops per step, so it outpaces f32 when a step takes
  // less than twice as long.
  return best_bf16 < 2 * best_f32;
}
#endif

}  // namespace

bool Bf16DotProductsOutpaceF32() {
#if defined(__x86_64__)
  static const bool faster = TierHasBf16(EffectiveCpuTier()) && MeasureBf16Faster();
  return faster;
#else
  return false;
#endif
}

const KernelPolicy& ActiveKernelPolicy() {
  static const KernelPolicy policy = FromEnvironment(std::getenv("BEIT_KERNEL_POLICY"));
  return policy;
}

std::string KernelPolicyName() {
  const KernelPolicy& p = ActiveKernelPolicy();
  return p.name + " linear_whole_batch=" + std::to_string(p.linear_whole_batch) +
         " int8_max_rows=" + std::to_string(p.int8_max_rows) +
         " int8_fused_epilogue=" + std::to_string(p.int8_fused_epilogue) +
         " bf16_attention_on_onednn=" + std::to_string(p.bf16_attention_on_onednn) +
         " bf16_dot_products_fast=" + std::to_string(p.bf16_dot_products_fast);
}

bool BatchedAnswersAreBitIdentical(Precision precision) {
  return precision == Precision::kInt8 || !ActiveKernelPolicy().linear_whole_batch ||
         TierHasAvx512(EffectiveCpuTier());
}

bool AttentionUsesBf16(Precision precision) {
  if (!UsesBf16Operands(precision)) return false;
  const KernelPolicy& p = ActiveKernelPolicy();
  return p.bf16_attention_on_onednn || p.bf16_dot_products_fast;
}

}  // namespace beit
