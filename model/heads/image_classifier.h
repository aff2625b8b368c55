// BeitForImageClassification: BeitModel with pooler, then a Linear classifier over pooler_output.
//
// Contract: Forward returns the backbone output and logits [B, num_labels]. With num_labels == 0
// the classifier is the identity (Transformers' nn.Identity), so logits == pooler_output.
// The request (attentions, attention_observer, ...) reaches the backbone unchanged.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/beit/beit_model.h"
#include "model/io/checkpoint.h"
#include "model/ops/linear.h"

namespace beit {

struct ClassificationOutput {
  BeitModelOutput beit;
  Tensor logits;
};

class ImageClassifier {
 public:
  ImageClassifier(const BeitConfig& config, Checkpoint& checkpoint);

  ClassificationOutput Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                               const BeitModelRequest& request) const;

  const BeitModel& backbone() const { return backbone_; }

 private:
  BeitModel backbone_;
  bool identity_ = false;
  Linear classifier_;
};

}  // namespace beit
