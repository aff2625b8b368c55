#include "model/heads/image_classifier.h"

namespace beit {

ImageClassifier::ImageClassifier(const BeitConfig& config, Checkpoint& ckpt)
    : backbone_(config, ckpt, /*add_pooling_layer=*/true), identity_(config.num_labels == 0) {
  if (!identity_) {
    const int64_t C = config.hidden_size, K = config.num_labels;
    Tensor w = ckpt.Take("classifier.weight", {K, C});
    Tensor b = ckpt.Take("classifier.bias", {K});
    classifier_ = Linear(w, &b, {});
  }
}

ClassificationOutput ImageClassifier::Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                                              const BeitModelRequest& request) const {
  ClassificationOutput out;
  out.beit = backbone_.Forward(stream, inputs, request);
  if (identity_) {
    out.logits = out.beit.pooler_output;
    return out;
  }
  const int64_t B = out.beit.pooler_output.dim(0);
  out.logits = Tensor({B, classifier_.out_features()});
  classifier_.Forward(stream, out.beit.pooler_output.ptr(), B, 1, out.logits.ptr());
  stream.wait();
  return out;
}

}  // namespace beit
