// Self-attention fused into one pass per (image, head), for CPUs with AVX-512.
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
//   `bias` ([H, N, N]) and `head_mask` ([H]) may be null.
// - `context` is f32, or bf16 (rounded to nearest even) when the operands are bf16.
// - `probs`, when not null, receives P [B, H, N, N] in f32 (head mask applied, before any bf16
//   rounding), as Transformers returns attentions.
// - Any N >= 1; any head size d >= 1 for f32, even d for bf16. Parallel with OpenMP over
//   (image, head) pairs, split into query chunks when there are fewer pairs than threads.
// - Only call when FusedAttentionSupported(operand type, d) is true (the CPU has AVX-512 F, BW
//   and VL, plus AVX512-BF16 for bf16 operands); the caller falls back to the oneDNN primitives
//   otherwise. Throws ModelError for bf16 context from f32 operands.
#pragma once

#include <cstdint>

#include "model/activation_buffer.h"

namespace beit {

struct AttentionShape {
  int64_t batch, tokens, heads, head_dim;
};

bool FusedAttentionSupported(dnnl::memory::data_type operands, int64_t head_dim);

void FusedAttention(ConstActivationView qkv, const AttentionShape& shape, const float* bias, const float* head_mask,
                    float* probs, ActivationView context);

}  // namespace beit
