// BeitForSemanticSegmentation: BEiT backbone, fpn1..fpn4, UperNet decode head, auxiliary FCN head.
//
// Contract:
// - Features follow Transformers' rule: hidden_states[i] is used when i + 1 is in out_indices
//   (hidden_states[0] is the embedding output), in order; feature k goes through fpn{k+1}
//   (fpn1: 2x ConvTranspose + BatchNorm + GELU + 2x ConvTranspose = 4x up; fpn2: 2x up;
//   fpn3: identity; fpn4: 2x2 max-pool). The rule must pick 3 or 4 features (UperNet needs 3;
//   there are 4 fpn ops) — checked at load with a message naming out_indices.
// - Input must be image_size (Transformers reshapes tokens with the config's patch grid).
// - Forward returns logits [B, num_labels, 4h, 4w] (NCHW) and, on request, the fpn outputs and
//   the auxiliary head's logits (NCHW).
// - The request reaches the backbone with the feature indices added to keep_hidden_states;
//   attentions and attention_observer pass through unchanged.
#pragma once

#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/beit/beit_model.h"
#include "model/io/checkpoint.h"
#include "model/ops/conv.h"
#include "model/heads/fcn_head.h"
#include "model/ops/pooling.h"
#include "model/heads/uper_head.h"

namespace beit {

struct SegmentationOutput {
  BeitModelOutput beit;
  Tensor logits;
  std::vector<Tensor> features;  // when requested
  Tensor auxiliary_logits;       // when requested and the model has the head
};

class SemanticSegmenter {
 public:
  SemanticSegmenter(const BeitConfig& config, Checkpoint& checkpoint);

  SegmentationOutput Forward(dnnl::stream& stream, const BeitModelInputs& inputs, const BeitModelRequest& request,
                             bool want_features_and_auxiliary) const;

  const BeitModel& backbone() const { return backbone_; }

 private:
  std::vector<FeatureMap> Features(dnnl::stream& stream, const BeitModelOutput& beit) const;

  BeitConfig config_;
  BeitModel backbone_;
  std::vector<int> feature_indices_;  // hidden_states indices feeding fpn1.. in order
  std::unique_ptr<Conv2d> fpn1_up1_, fpn1_up2_, fpn2_up_;
  MaxPool2x2 fpn4_;
  UperHead decode_head_;
  std::unique_ptr<FcnHead> auxiliary_head_;
};

}  // namespace beit
