// The core of BEiT self-attention: softmax(Q K^T / sqrt(d) + bias) V for all heads at once.
//
// Contract:
// - Input is the fused projection qkv [B, N, 3C] (Q | K | V along the last axis, C = H*d), as the
//   layer's single QKV matmul produces it; Q, K and V are read in place through strides (no
//   transposes or copies).
// - `bias` is the relative position bias [H, N, N] or null; it is added inside the QK^T matmul as
//   a post-op, after the 1/sqrt(d) scaling, as Transformers adds it to the scaled scores.
// - `head_mask` ([H] or null) multiplies the probabilities per head after softmax, as Transformers
//   does; the returned probabilities include it.
// - `probs` [B, H, N, N] receives the attention probabilities (callers may copy them out for
//   output_attentions); `context` [B, N, C] receives the per-head outputs, heads concatenated.
#pragma once

#include <cstdint>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/dnnl_context.h"

namespace beit {

class AttentionKernels {
 public:
  AttentionKernels(int64_t heads, int64_t head_dim);

  void Forward(dnnl::stream& stream, const float* qkv, int64_t batch, int64_t tokens, const float* bias,
               const float* head_mask, float* probs, float* context) const;

 private:
  int64_t heads_, head_dim_;
  float scale_;
  PrimitiveCache<std::tuple<int64_t, bool>, dnnl::matmul> scores_;       // (N, has_bias), per image
  PrimitiveCache<int64_t, dnnl::softmax_forward> softmax_;               // rows
  PrimitiveCache<std::tuple<int64_t, int64_t>, dnnl::matmul> context_;   // (B, N)
};

}  // namespace beit
