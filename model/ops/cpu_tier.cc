#include "model/ops/cpu_tier.h"

#include <oneapi/dnnl/dnnl.hpp>

namespace beit {
namespace {

CpuTier FromIsa(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx2:
      return CpuTier::kAvx2;
    case dnnl::cpu_isa::avx2_vnni:
      return CpuTier::kAvx2Vnni;
    case dnnl::cpu_isa::avx512_core:
      return CpuTier::kAvx512Core;
    case dnnl::cpu_isa::avx512_core_vnni:
      return CpuTier::kAvx512CoreVnni;
    case dnnl::cpu_isa::avx512_core_bf16:
      return CpuTier::kAvx512CoreBf16;
    case dnnl::cpu_isa::avx512_core_amx:
      return CpuTier::kAvx512CoreAmx;
    default:  // sse41, avx, Xeon Phi's avx512_mic (no BW/VL), and every other architecture
      return CpuTier::kPortable;
  }
}

}  // namespace

CpuTier EffectiveCpuTier() {
#if defined(__x86_64__)
  static const CpuTier tier = FromIsa(dnnl::get_effective_cpu_isa());
  return tier;
#else
  return CpuTier::kPortable;
#endif
}

const char* CpuTierName(CpuTier tier) {
  switch (tier) {
    case CpuTier::kAvx2: return "avx2";
    case CpuTier::kAvx2Vnni: return "avx2_vnni";
    case CpuTier::kAvx512Core: return "avx512_core";
    case CpuTier::kAvx512CoreVnni: return "avx512_core_vnni";
    case CpuTier::kAvx512CoreBf16: return "avx512_core_bf16";
    case CpuTier::kAvx512CoreAmx: return "avx512_core_amx";
    default: return "portable";
  }
}

std::optional<std::string> PrecisionUnsupportedReason(Precision precision) {
  const CpuTier tier = EffectiveCpuTier();
  const std::string here = std::string("this CPU computes at tier ") + CpuTierName(tier);
  if (precision == Precision::kBF16 && !TierHasBf16(tier)) {
    return "precision bf16 needs a CPU with AVX512-BF16 (" + here + "); use --precision int8 (fast) or f32 (exact)";
  }
  if (precision == Precision::kInt8 && !TierHasAvx2(tier)) {
    return "precision int8 needs a CPU with AVX2 (" + here + "); use --precision f32";
  }
  return std::nullopt;
}

}  // namespace beit
