// How the engine lays its work onto this CPU: one table of choices per process, taken from the
// CPU tier (cpu_tier.h) and from measured rates, never from the ISA flag alone.
//
// Why: the fastest formulation differs by tier. With AMX, oneDNN's matmuls run twice as fast on a
// whole batch's rows (1576) as one image at a time (197), and bf16 attention belongs on the tiles;
// on an Intel CPU capped below AMX, vdpbf16ps runs at half the f32 FMA rate, so bf16 kernels of
// ours lose there; on Zen 4/5 it runs at twice that rate. Keeping every such choice in one table
// makes each choice visible, measured (bench/RESULTS.md) and testable: the AMX tier's table can be
// forced on any CPU (the instructions still come from the tier; only the choices change), so CI
// proves the AMX paths correct on machines without AMX.
//
// Contract:
// - ActiveKernelPolicy() is decided on first use and fixed for the process. By default it is the
//   table for EffectiveCpuTier() (the "native" policy). The environment variable
//   BEIT_KERNEL_POLICY, meant for tests and benchmarks only, replaces it: "amx" takes the AMX
//   tier's choices at whatever tier this CPU computes, "slow_bf16" the native table with bf16
//   dot products treated as slower than f32 FMA (an Intel CPU capped at avx512_core_bf16),
//   "native" (or unset) the default. Any other value is a ModelError naming the accepted ones.
// - Every choice keeps the answers within the documented precision contracts (precision.h): the
//   table only decides how rows are grouped into matmuls, which kernel computes the attention,
//   and whether oneDNN applies the int8 epilogue inside its matmul.
// - Bf16DotProductsOutpaceF32() measures, once per process on one thread (about 10 ms), a chain
//   of vdpbf16ps against one of vfmadd231ps on 512-bit vectors, in flops per second; true when
//   bf16 is faster. False without AVX512-BF16 at the effective tier.
#pragma once

#include <cstdint>
#include <string>

#include "model/ops/precision.h"

namespace beit {

struct KernelPolicy {
  std::string name;  // "native", "amx" or "slow_bf16": which table was taken
  // f32 and bf16 Linears: a batch's rows in one matmul (else one matmul per image, the only way
  // oneDNN's AVX-512 kernels gave no measurable cost and guaranteed bits before AMX was measured).
  bool linear_whole_batch = false;
  // int8 Linears: rows in near-equal slices of at most this many (0: the whole batch at once).
  int64_t int8_max_rows = 0;
  // int8 Linears: the per-token scale, bias, activation and residual sum as post-ops of oneDNN's
  // matmul (one pass over the output), where oneDNN's kernel takes them (VNNI and AMX brgemm);
  // otherwise a second pass (oneDNN's binary primitive).
  bool int8_fused_epilogue = false;
  // bf16 attention operands: the two attention matmuls as oneDNN bf16 matmuls (AMX tiles) rather
  // than our fused kernel.
  bool bf16_attention_on_onednn = false;
  // Whether bf16 dot products run faster than f32 FMA here: our fused attention takes bf16
  // operands only then, f32 otherwise.
  bool bf16_dot_products_fast = false;
};

const KernelPolicy& ActiveKernelPolicy();
// The active policy's name and its choices in one line, for logs and benchmark records:
// "native linear_whole_batch=1 int8_max_rows=512 ...".
std::string KernelPolicyName();

bool Bf16DotProductsOutpaceF32();

// Whether an image's answers are the same bits whatever batch it runs in (and wherever in it), at
// this tier, policy and `precision`, for the encoder and the classification and MIM heads: int8
// everywhere (exact integer sums); f32 and bf16 wherever a Linear computes one image at a time,
// and at AVX-512 and AMX tiers also with whole-batch matmuls (oneDNN's brgemm blocks each row's
// sum the same way whatever the row count: measured, and tested at every tier by
// tests/model/ops/linear_test.cc and the served tests). f32 at AVX2 tiers agrees within float
// rounding (oneDNN's AVX2 GEMM picks its reduction blocking by the row count; one matmul per
// image cost 19 % of batch-8 throughput there). Segmentation heads at AVX2 tiers run their 3x3
// convolutions as f32 matmuls over the batch (no Winograd there), so their maps follow the f32
// AVX2 rule at any precision.
bool BatchedAnswersAreBitIdentical(Precision precision);

// The operand type of a model's attention matmuls at `precision`: bf16 where the tier has native
// bf16 (UsesBf16Operands) and the policy runs bf16 attention fast (on oneDNN's AMX matmuls, or
// where vdpbf16ps outpaces f32 FMA); f32 otherwise.
bool AttentionUsesBf16(Precision precision);

}  // namespace beit
