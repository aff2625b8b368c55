// Self-attention fused into one pass per (image, head), on x86-64 CPUs with AVX-512 or AVX2 + FMA.
//
// Why: with oneDNN 2.6 the attention core is three primitives — scores matmul, softmax,
// probabilities-times-V matmul — whose small per-head matmuls (N x d x N, N = 197, d = 64) run at
// about half of the large matmuls' rate, and the [B, H, N, N] scores make two round trips through
// memory (bench/RESULTS.md). Here a block of six queries goes through scores, bias, softmax and
// context while its rows of scores are in cache (L1 at N = 197; the head's K^T, 53 KB, in L2).
//
// Contract:
// - qkv is the layer's fused projection [B, N, 3C] (Q | K | V along the last axis, C = H * d), Q
//   already multiplied by 1/sqrt(d) as AttentionKernels requires; f32 or bf16.
// - context[b, n, h*d + j] = sum_m P[b, h, n, m] V[b, m, h*d + j] with
//   P = softmax(Q K^T + bias) * head_mask[h], as Transformers' BeitSelfAttention computes it.
//   Scores, softmax and accumulation are f32; with bf16 operands P is rounded to bf16 (nearest
//   even) before it multiplies V — the same arithmetic as AttentionKernels' oneDNN path.
//   `bias` ([H, N, N]) and `head_mask` ([H]) may be null. A NaN in a row's scores or bias makes
//   that row of P (and of context) NaN; exp of a score 104 or more below the row's maximum is 0.
// - `context` is f32, or bf16 (rounded to nearest even) when the operands are bf16.
// - `probs`, when not null, receives P [B, H, N, N] in f32 (head mask applied, before any bf16
//   rounding), as Transformers returns attentions.
// - Any N >= 1; any head size d >= 1 for f32, even d for bf16. Parallel with OpenMP over
//   (image, head) pairs, split into query chunks when there are fewer pairs than threads.
// - The kernel follows the CPU tier our kernels use (EffectiveCpuTier(), model/ops/cpu_tier.h, which
//   honours ONEDNN_MAX_CPU_ISA), never the CPU directly: f32 operands run "avx512_f32" where the
//   tier has AVX-512, else "avx2_f32" where it has AVX2 (the same math; the two differ only in
//   summation order, within f32 rounding); bf16 operands run "avx512_bf16" only, where the tier
//   has AVX512-BF16 and d is even. FusedAttentionKernel() names the kernel FusedAttention will
//   run, or returns null where there is none (below AVX2, bf16 without AVX512-BF16 or with odd d,
//   any CPU that is not x86-64); FusedAttentionSupported() is whether there is one.
// - Only call when FusedAttentionSupported(operand type, d) is true; the caller falls back to the
//   oneDNN primitives otherwise. Throws ModelError when it is not, and for bf16 context from f32
//   operands.
#pragma once

#include <cstdint>

#include "model/ops/activation_buffer.h"

namespace beit {

struct AttentionShape {
  int64_t batch, tokens, heads, head_dim;
};

bool FusedAttentionSupported(dnnl::memory::data_type operands, int64_t head_dim);
// "avx512_bf16", "avx512_f32", "avx2_f32", or null when FusedAttentionSupported is false.
const char* FusedAttentionKernel(dnnl::memory::data_type operands, int64_t head_dim);

void FusedAttention(ConstActivationView qkv, const AttentionShape& shape, const float* bias, const float* head_mask,
                    float* probs, ActivationView context);

}  // namespace beit
