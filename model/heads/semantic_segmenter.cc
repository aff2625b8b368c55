#include "model/heads/semantic_segmenter.h"

#include <algorithm>

#include "model/model_error.h"

namespace beit {
namespace {

std::vector<int> SelectFeatureIndices(const BeitConfig& c) {
  std::vector<int> picked;
  for (int i = 0; i <= c.num_hidden_layers; ++i) {
    if (std::find(c.out_indices.begin(), c.out_indices.end(), i + 1) != c.out_indices.end()) picked.push_back(i);
  }
  if (picked.size() < 3 || picked.size() > 4) {
    std::string list;
    for (int i : c.out_indices) list += (list.empty() ? "" : ", ") + std::to_string(i);
    throw ModelError("config.json: out_indices [" + list + "] selects " + std::to_string(picked.size()) +
                     " hidden states (hidden_states[i] is used when i + 1 is listed); "
                     "BeitForSemanticSegmentation needs 3 or 4");
  }
  return picked;
}

std::unique_ptr<Conv2d> LoadUpsample(Checkpoint& ckpt, const std::string& prefix, int64_t C, const BatchNorm* bn,
                                     const std::string& activation) {
  Tensor w = ckpt.Take(prefix + "weight", {C, C, 2, 2});
  Tensor b = ckpt.Take(prefix + "bias", {C});
  Conv2d::Options o;
  o.stride = 2;
  o.transposed = true;
  o.activation = activation;
  return std::make_unique<Conv2d>(std::move(w), &b, bn, o);
}

}  // namespace

SemanticSegmenter::SemanticSegmenter(const BeitConfig& config, Checkpoint& ckpt)
    : config_(config),
      backbone_(config, ckpt, /*add_pooling_layer=*/false),
      feature_indices_(SelectFeatureIndices(config)),
      decode_head_(config, ckpt) {
  const int64_t C = config.hidden_size;
  BatchNorm bn = TakeBatchNorm(ckpt, "fpn1.1.", C);
  fpn1_up1_ = LoadUpsample(ckpt, "fpn1.0.", C, &bn, "gelu");  // nn.GELU(): the erf form
  fpn1_up2_ = LoadUpsample(ckpt, "fpn1.3.", C, nullptr, "linear");
  if (feature_indices_.size() > 1) fpn2_up_ = LoadUpsample(ckpt, "fpn2.0.", C, nullptr, "linear");
  if (config.use_auxiliary_head) auxiliary_head_ = std::make_unique<FcnHead>(config, ckpt);
}

std::vector<FeatureMap> SemanticSegmenter::Features(dnnl::stream& stream, const BeitModelOutput& beit) const {
  const int64_t B = beit.last_hidden_state.dim(0), N = beit.last_hidden_state.dim(1), C = config_.hidden_size;
  std::vector<FeatureMap> features;
  for (size_t k = 0; k < feature_indices_.size(); ++k) {
    const Tensor& hs = beit.hidden_states.at(feature_indices_[k]);
    FeatureMap map(B, beit.grid_h, beit.grid_w, C);  // patch tokens are already NHWC
    for (int64_t b = 0; b < B; ++b) {
      std::copy(hs.ptr() + (b * N + 1) * C, hs.ptr() + (b + 1) * N * C, map.data.data() + b * (N - 1) * C);
    }
    switch (k) {
      case 0: map = fpn1_up2_->Forward(stream, fpn1_up1_->Forward(stream, map)); break;
      case 1: map = fpn2_up_->Forward(stream, map); break;
      case 2: break;
      default: map = fpn4_.Forward(stream, map); break;
    }
    features.push_back(std::move(map));
  }
  return features;
}

SegmentationOutput SemanticSegmenter::Forward(dnnl::stream& stream, const BeitModelInputs& inputs,
                                              const BeitModelRequest& request, bool want_extra) const {
  const Tensor& px = *inputs.pixel_values;
  if (px.shape.size() == 4 && (px.shape[2] != config_.image_height || px.shape[3] != config_.image_width)) {
    throw ModelError("semantic segmentation needs pixel_values of " + std::to_string(config_.image_height) + "x" +
                     std::to_string(config_.image_width) + " (the checkpoint's image_size); got " +
                     ShapeToString(px.shape));
  }
  BeitModelRequest backbone_request = request;
  backbone_request.keep_hidden_states.insert(backbone_request.keep_hidden_states.end(), feature_indices_.begin(),
                                             feature_indices_.end());
  SegmentationOutput out;
  out.beit = backbone_.Forward(stream, inputs, backbone_request);
  std::vector<FeatureMap> features = Features(stream, out.beit);
  out.logits = ToNchw(decode_head_.Forward(stream, features));
  if (want_extra) {
    for (const auto& f : features) out.features.push_back(ToNchw(f));
    if (auxiliary_head_) out.auxiliary_logits = ToNchw(auxiliary_head_->Forward(stream, features));
  }
  if (!request.hidden_states) {
    // Drop the copies kept only for the features, so callers see what they asked for.
    out.beit.hidden_states.clear();
  }
  return out;
}

}  // namespace beit
