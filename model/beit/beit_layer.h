// One BEiT transformer block (BeitLayer): pre-norm attention and MLP with optional layer scale.
//
// Contract:
// - Forward updates the hidden states x [B, N, C] in place:
//     x += lambda_1 * Attention(LN_before(x));  x += lambda_2 * MLP(LN_after(x))
//   with lambda_1/lambda_2 folded into the output projections at load time (layer scale off =>
//   plain residuals). Q, K, V are one fused matmul; the residual adds are matmul sum post-ops.
// - `bias` is the relative position bias [H, N, N] to add (the layer's own or the shared one) or
//   null; `head_mask` is [H] or null. `scratch.probs` [B, H, N, N] holds the attention
//   probabilities afterwards when `keep_probs` is set (otherwise it is only sized when the
//   attention kernels need it as working space); see AttentionKernels.
// - In bf16 and int8 layers the attention matmuls run in bf16 and the activations that two bf16
//   kernels share stay bf16 (QKV output, and in bf16 also the attention context and MLP hidden).
// - `scratch` is resized as needed and reused across layers to avoid reallocations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/activation_buffer.h"
#include "model/ops/attention.h"
#include "model/io/beit_config.h"
#include "model/io/checkpoint.h"
#include "model/ops/layer_norm.h"
#include "model/ops/linear.h"
#include "model/beit/relative_position_bias.h"

namespace beit {

struct LayerScratch {
  std::vector<float> normed, probs;
  ActivationBuffer qkv, context, mlp;
  std::vector<uint16_t> probs_bf16;

  // Bytes held (capacity), to decide whether a thread keeps it between calls.
  int64_t bytes() const;
};

class BeitLayer {
 public:
  BeitLayer(const BeitConfig& config, Checkpoint& checkpoint, const std::string& prefix);

  void Forward(dnnl::stream& stream, float* x, int64_t batch, int64_t tokens, const float* bias,
               const float* head_mask, bool keep_probs, LayerScratch& scratch) const;

  // The layer's own relative position bias, or null when it has none.
  const RelativePositionBias* relative_position_bias() const { return relative_position_bias_.get(); }

 private:
  int64_t hidden_, intermediate_;
  LayerNorm layernorm_before_, layernorm_after_;
  Linear qkv_, attention_output_, intermediate_dense_, output_dense_;
  AttentionKernels attention_;
  std::unique_ptr<RelativePositionBias> relative_position_bias_;
};

}  // namespace beit
