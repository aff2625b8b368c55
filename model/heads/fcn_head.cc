#include "model/heads/fcn_head.h"

namespace beit {

FcnHead::FcnHead(const BeitConfig& config, Checkpoint& ckpt) {
  const int64_t in = config.hidden_size, ch = config.auxiliary_channels;
  const std::string p = "auxiliary_head.";
  for (int i = 0; i < config.auxiliary_num_convs; ++i) {
    convs_.push_back(LoadConvModule(ckpt, p + "convs." + std::to_string(i) + ".", i == 0 ? in : ch, ch, 3, 1));
  }
  const int64_t head_in = config.auxiliary_num_convs == 0 ? in : ch;  // convs are Identity when 0
  if (config.auxiliary_concat_input) conv_cat_ = LoadConvModule(ckpt, p + "conv_cat.", in + head_in, ch, 3, 1);
  const int64_t classifier_in = conv_cat_ ? ch : head_in;
  Tensor cw = ckpt.Take(p + "classifier.weight", {config.num_labels, classifier_in, 1, 1});
  Tensor cb = ckpt.Take(p + "classifier.bias", {config.num_labels});
  classifier_ = std::make_unique<Conv2d>(std::move(cw), &cb, nullptr, Conv2d::Options{});
}

FeatureMap FcnHead::Forward(dnnl::stream& stream, const std::vector<FeatureMap>& features) const {
  const FeatureMap& input = features.at(kInIndex);
  FeatureMap x = input;
  for (const auto& conv : convs_) x = conv->Forward(stream, x);
  if (conv_cat_) x = conv_cat_->Forward(stream, ConcatChannels({&input, &x}));
  return classifier_->Forward(stream, x);
}

}  // namespace beit
