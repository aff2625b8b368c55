// The CPU tier the engine computes at: one decision, shared by oneDNN and our own kernels.
//
// Why: a container image runs on whatever CPU its node has (AVX2-only, AVX-512 with or without
// VNNI and BF16, AMX). oneDNN picks its kernels from its *effective* ISA, which honours
// ONEDNN_MAX_CPU_ISA; if our own kernels asked the CPU directly (cpuid), a capped process would
// mix tiers and a developer on a big machine could never run what a small one runs. So every
// CPU-dependent path of ours asks EffectiveCpuTier() instead.
//
// Contract:
// - EffectiveCpuTier() is oneDNN's effective ISA (dnnl::get_effective_cpu_isa()) mapped onto the
//   tiers below, decided on the first call and fixed for the process (oneDNN reads
//   ONEDNN_MAX_CPU_ISA once). kPortable is anything below AVX2, and every non-x86 CPU.
// - Tiers are ordered: a kernel written for tier T runs wherever EffectiveCpuTier() >= T, except
//   that kAvx2Vnni (AVX2 + AVX-VNNI, no AVX-512) is below kAvx512Core without being a part of it;
//   our kernels treat it as kAvx2.
// - CpuTierName() spells a tier as oneDNN and ONEDNN_MAX_CPU_ISA do, lower case ("avx2",
//   "avx512_core_bf16"); the startup log, GetModelInfo and the build-info metric show it.
// - PrecisionUnsupportedReason(p) is empty when `p` can run at the effective tier; otherwise one
//   line that names the precision, the CPU feature it lacks and what to use instead.
#pragma once

#include <optional>
#include <string>

#include "model/ops/precision.h"

namespace beit {

enum class CpuTier {
  kPortable,         // below AVX2 (or not x86): oneDNN's own SSE4.1 kernels, our portable loops
  kAvx2,             // AVX2 + FMA: the build's x86-64-v3 baseline
  kAvx2Vnni,         // AVX2 + AVX-VNNI (Alder Lake and later client CPUs)
  kAvx512Core,       // AVX-512 F/BW/VL/DQ (Skylake-SP)
  kAvx512CoreVnni,   // + AVX512-VNNI (Cascade Lake, Ice Lake)
  kAvx512CoreBf16,   // + AVX512-BF16 (Cooper Lake, Zen 4/5)
  kAvx512CoreAmx,    // + AMX tiles (Sapphire Rapids)
};

CpuTier EffectiveCpuTier();
const char* CpuTierName(CpuTier tier);

// Our kernels' families: AVX-512 ones need kAvx512Core, AVX2 ones kAvx2 (and run on AVX-VNNI).
inline bool TierHasAvx512(CpuTier tier) { return tier >= CpuTier::kAvx512Core; }
inline bool TierHasAvx2(CpuTier tier) { return tier >= CpuTier::kAvx2; }
// 8-bit dot products into 32 bits without 16-bit saturation (vpdpbusd: AVX-VNNI or AVX512-VNNI).
inline bool TierHasVnni(CpuTier tier) { return tier == CpuTier::kAvx2Vnni || tier >= CpuTier::kAvx512CoreVnni; }
// Native bf16 dot products (vdpbf16ps): bf16 operands run fast here and only here.
inline bool TierHasBf16(CpuTier tier) { return tier >= CpuTier::kAvx512CoreBf16; }

std::optional<std::string> PrecisionUnsupportedReason(Precision precision);

// Whether a model at `precision` gives its attention matmuls and the segmentation heads'
// convolutions bf16 operands: reduced precisions do where the tier has native bf16 dot products;
// elsewhere (int8 on AVX2 or on AVX-512 without BF16) those run f32, which oneDNN 2.6 cannot
// do in bf16 below AVX-512 and would only emulate slowly above it.
inline bool UsesBf16Operands(Precision precision) {
  return precision != Precision::kF32 && TierHasBf16(EffectiveCpuTier());
}

}  // namespace beit
