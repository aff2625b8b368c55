#include "model/heads/uper_head.h"

#include "model/ops/pooling.h"

namespace beit {

namespace {
constexpr int kLevels = 4;  // Transformers builds the head for [hidden_size] * 4 input levels
}

UperHead::UperHead(const BeitConfig& config, Checkpoint& ckpt) : pool_scales_(config.pool_scales) {
  const int64_t C = config.hidden_size;
  const std::string p = "decode_head.";
  for (size_t i = 0; i < pool_scales_.size(); ++i) {
    psp_convs_.push_back(LoadConvModule(ckpt, p + "psp_modules." + std::to_string(i) + ".1.", C, C, 1, 0));
  }
  bottleneck_ = LoadConvModule(ckpt, p + "bottleneck.", C + static_cast<int64_t>(pool_scales_.size()) * C, C, 3, 1);
  for (int i = 0; i < kLevels - 1; ++i) {
    lateral_convs_.push_back(LoadConvModule(ckpt, p + "lateral_convs." + std::to_string(i) + ".", C, C, 1, 0));
    fpn_convs_.push_back(LoadConvModule(ckpt, p + "fpn_convs." + std::to_string(i) + ".", C, C, 3, 1));
  }
  fpn_bottleneck_ = LoadConvModule(ckpt, p + "fpn_bottleneck.", kLevels * C, C, 3, 1);
  Tensor cw = ckpt.Take(p + "classifier.weight", {config.num_labels, C, 1, 1});
  Tensor cb = ckpt.Take(p + "classifier.bias", {config.num_labels});
  classifier_ = std::make_unique<Conv2d>(std::move(cw), &cb, nullptr, Conv2d::Options{});
}

FeatureMap UperHead::Forward(dnnl::stream& stream, const std::vector<FeatureMap>& features) const {
  // PSP branch on the last map: [x, up(conv(pool_s(x))) for s in scales] -> bottleneck.
  const FeatureMap& top = features.back();
  std::vector<FeatureMap> pooled;
  for (size_t i = 0; i < pool_scales_.size(); ++i) {
    FeatureMap y = psp_convs_[i]->Forward(stream, AdaptiveAvgPool(top, pool_scales_[i]));
    pooled.push_back(ResizeBilinear(y, top.height, top.width));
  }
  std::vector<const FeatureMap*> psp_inputs{&top};
  for (const auto& m : pooled) psp_inputs.push_back(&m);

  std::vector<FeatureMap> laterals;
  for (size_t i = 0; i < lateral_convs_.size(); ++i) laterals.push_back(lateral_convs_[i]->Forward(stream, features[i]));
  laterals.push_back(bottleneck_->Forward(stream, ConcatChannels(psp_inputs)));

  // Top-down: add each coarser level, upsampled, into the finer one.
  for (size_t i = laterals.size() - 1; i > 0; --i) {
    FeatureMap up = ResizeBilinear(laterals[i], laterals[i - 1].height, laterals[i - 1].width);
    float* dst = laterals[i - 1].data.data();
    for (size_t k = 0; k < up.data.size(); ++k) dst[k] += up.data[k];
  }

  std::vector<FeatureMap> outs;
  for (size_t i = 0; i + 1 < laterals.size(); ++i) outs.push_back(fpn_convs_[i]->Forward(stream, laterals[i]));
  outs.push_back(std::move(laterals.back()));
  for (size_t i = 1; i < outs.size(); ++i) outs[i] = ResizeBilinear(outs[i], outs[0].height, outs[0].width);
  std::vector<const FeatureMap*> cat;
  for (const auto& m : outs) cat.push_back(&m);
  return classifier_->Forward(stream, fpn_bottleneck_->Forward(stream, ConcatChannels(cat)));
}

}  // namespace beit
