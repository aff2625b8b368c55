// The core of BEiT self-attention: softmax(Q K^T / sqrt(d) + bias) V for all heads at once.
//
// Contract:
// - Input is the fused projection qkv [B, N, 3C] (Q | K | V along the last axis, C = H*d), as the
//   layer's single QKV matmul produces it, with Q already multiplied by 1/sqrt(d) (folded into the
//   query weights at load, so the scores matmul has no scaling pass). The oneDNN path copies Q, K
//   and V into dense per-thread blocks (its brgemm kernels, AMX's among them, take dense permuted
//   layouts only) and runs one scores matmul and one context matmul over the whole batch; the
//   fused kernel copies one head's K (transposed) and, for bf16, V (row pairs) into per-thread
//   working space. qkv is f32 or bf16: with bf16 the two
//   attention matmuls run on bf16 operands (f32 accumulation) and the probabilities are rounded to
//   bf16 before the second one; scores, softmax and the head mask are computed in f32 either way.
// - `bias` is the relative position bias [H, N, N] or null, added to the scaled scores as
//   Transformers adds it (inside the fused kernel, or as a post-op of oneDNN's QK^T matmul).
// - `head_mask` ([H] or null) multiplies the probabilities per head after softmax, as Transformers
//   does; the returned probabilities include it.
// - Where FusedAttentionSupported() (the CPU tier has AVX2 or AVX-512; AVX512-BF16 for bf16) the fused kernel runs,
//   except bf16 operands under a kernel policy that puts them on oneDNN's matmuls (the AMX tier:
//   kernel_policy.h),
//   (model/ops/fused_attention.h: scores, softmax and context per block of queries, no scores
//   tensor), unless the constructor is told not to; otherwise three oneDNN primitives: scores
//   matmul, softmax, context matmul. Both compute the same math in the same precisions (not bit
//   for bit: the summation orders differ).
// - `probs` [B, H, N, N] is f32 working space. It holds the attention probabilities on return when
//   `keep_probs` is set; otherwise its contents are unspecified (the oneDNN bf16 path leaves the
//   scores there and has softmax write bf16 directly; the fused kernel does not touch it).
// - `context` [B, N, C] receives the per-head outputs, heads concatenated: f32, or bf16 when qkv
//   is bf16. `bf16_probs` is working space for the bf16 probabilities (resized as needed).
// - Primitives are created on first use per shape and type, and cached. Thread-safe.
#pragma once

#include <cstdint>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/activation_buffer.h"
#include "model/ops/dnnl_context.h"

namespace beit {

class AttentionKernels {
 public:
  // `fused` false keeps the oneDNN primitives even where the fused kernel could run (for
  // comparing the two).
  AttentionKernels(int64_t heads, int64_t head_dim, bool fused = true);

  // The factor the query projection must be multiplied by: 1/sqrt(head_dim).
  float query_scale() const { return query_scale_; }
  int64_t heads() const { return heads_; }
  // Whether Forward needs `probs` for these operands: always when the probabilities are kept,
  // otherwise only on the oneDNN path (the fused kernel has its own per-thread working space).
  bool NeedsProbsBuffer(dnnl::memory::data_type operands, bool keep_probs) const;
  // Whether Forward runs the fused kernel for these operands (else oneDNN's primitives).
  bool RunsFused(dnnl::memory::data_type operands) const;

  void Forward(dnnl::stream& stream, ConstActivationView qkv, int64_t batch, int64_t tokens, const float* bias,
               const float* head_mask, bool keep_probs, float* probs, ActivationView context,
               std::vector<uint16_t>& bf16_probs) const;

 private:
  using dt = dnnl::memory::data_type;
  int64_t heads_, head_dim_;
  float query_scale_;
  bool fused_;
  PrimitiveCache<std::tuple<int64_t, int64_t, bool, dt>, dnnl::matmul> scores_;  // (B, N, has_bias, qkv)
  PrimitiveCache<std::tuple<int64_t, dt>, dnnl::softmax_v2_forward> softmax_;  // (rows, probabilities)
  PrimitiveCache<std::tuple<int64_t, int64_t, dt, dt>, dnnl::matmul> context_;  // (B, N, qkv, context)
};

}  // namespace beit
