// BeitModel: embeddings, the transformer encoder, the final LayerNorm and the pooler.
//
// Contract:
// - Forward(pixel_values [B, C, H, W]) returns last_hidden_state [B, N, C] (after the final
//   LayerNorm, which is the identity when use_mean_pooling) and, when the model has a pooler,
//   pooler_output [B, C]: LayerNorm(mean of patch tokens) with use_mean_pooling, else the CLS token
//   of last_hidden_state.
// - hidden_states (L+1 entries: embeddings, then each layer's output) and attentions (L entries,
//   [B, H, N, N]) are filled only when requested. `keep_hidden_states` asks for a subset (the
//   segmentation head's out_indices) without copying the others; unrequested entries stay empty.
// - `attention_observer`, when set, is called once per layer, in order 0..L-1, right after that
//   layer with its attention probabilities [B, H, N, N] (row-major; after head_mask, as in
//   `attentions`). The pointer is valid only during the call (the next layer overwrites it), so a
//   caller can reduce layer by layer without the [L, B, H, N, N] copies. It runs on the calling
//   thread; an exception from it ends Forward.
// - head_mask is [L, H] or [H] (broadcast over layers), as Transformers' get_head_mask accepts.
// - Relative position biases follow the input's patch grid, so any input size works.
// - Inputs with a wrong shape are ModelErrors; Forward is thread-safe. Each calling thread keeps
//   its layers' working memory (attention scores and activations, the largest batch it has run)
//   between calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/beit/beit_embeddings.h"
#include "model/beit/beit_layer.h"
#include "model/io/checkpoint.h"
#include "model/ops/layer_norm.h"
#include "model/beit/relative_position_bias.h"
#include "model/tensor.h"

namespace beit {

struct BeitModelInputs {
  const Tensor* pixel_values = nullptr;
  const std::vector<uint8_t>* bool_masked_pos = nullptr;  // [B, h*w], nonzero = masked
  const Tensor* head_mask = nullptr;
};

struct BeitModelRequest {
  bool hidden_states = false;
  bool attentions = false;
  std::vector<int> keep_hidden_states;  // indices into hidden_states to keep even if !hidden_states
  // Called after each layer with its probabilities [batch, heads, tokens, tokens]; see above.
  std::function<void(int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens)>
      attention_observer;
};

struct BeitModelOutput {
  Tensor last_hidden_state;
  Tensor pooler_output;  // empty without a pooler
  std::vector<Tensor> hidden_states;
  std::vector<Tensor> attentions;
  int64_t grid_h = 0, grid_w = 0;  // patch grid of this input
};

class BeitModel {
 public:
  BeitModel(const BeitConfig& config, Checkpoint& checkpoint, bool add_pooling_layer);

  BeitModelOutput Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                          const BeitModelRequest& request) const;

  // The bias layer `layer` adds for a patch grid (shared or its own), or null when none.
  const Tensor* RelativePositionBiasFor(int layer, int64_t grid_h, int64_t grid_w) const;
  bool has_shared_relative_position_bias() const { return shared_bias_ != nullptr; }

  const BeitConfig& config() const { return config_; }

 private:
  BeitConfig config_;
  BeitEmbeddings embeddings_;
  std::vector<std::unique_ptr<BeitLayer>> layers_;
  std::unique_ptr<RelativePositionBias> shared_bias_;
  bool final_layernorm_ = false;  // BeitModel.layernorm (absent with mean pooling)
  LayerNorm layernorm_;
  bool pooler_ = false;
  LayerNorm pooler_layernorm_;  // used with mean pooling
};

}  // namespace beit
