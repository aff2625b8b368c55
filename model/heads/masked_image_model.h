// BeitForMaskedImageModeling: BeitModel without pooler, a LayerNorm, and lm_head predicting the
// visual-token id (vocab_size classes) of every patch.
//
// Contract: Forward returns the backbone output and logits [B, num_patches, vocab_size] for the
// patch tokens (CLS excluded), for masked and unmasked patches alike; bool_masked_pos in the
// inputs selects which patches the backbone sees as the mask token. The request (attentions,
// attention_observer, ...) reaches the backbone unchanged.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/beit/beit_model.h"
#include "model/io/checkpoint.h"
#include "model/ops/layer_norm.h"
#include "model/ops/linear.h"

namespace beit {

struct MaskedImageModelingOutput {
  BeitModelOutput beit;
  Tensor logits;
};

class MaskedImageModel {
 public:
  MaskedImageModel(const BeitConfig& config, Checkpoint& checkpoint);

  MaskedImageModelingOutput Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                                    const BeitModelRequest& request) const;

  const BeitModel& backbone() const { return backbone_; }

 private:
  BeitModel backbone_;
  LayerNorm layernorm_;
  Linear lm_head_;
};

}  // namespace beit
