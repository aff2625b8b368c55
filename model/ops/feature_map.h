// A batch of 2-D feature maps in NHWC order, the layout every convolution in the segmentation
// heads reads and writes (the encoder's patch tokens are already [B, h, w, C]).
//
// Contract: data.size() == batch * height * width * channels. ToNchw gives PyTorch's layout for
// outputs; ConcatChannels stacks maps of equal B, H, W along channels, in order (torch.cat dim=1).
#pragma once

#include <cstdint>
#include <vector>

#include "model/tensor.h"

namespace beit {

struct FeatureMap {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  std::vector<float> data;

  FeatureMap() = default;
  FeatureMap(int64_t b, int64_t h, int64_t w, int64_t c) : batch(b), height(h), width(w), channels(c), data(b * h * w * c) {}
  int64_t pixels() const { return batch * height * width; }
};

Tensor ToNchw(const FeatureMap& map);
FeatureMap ConcatChannels(const std::vector<const FeatureMap*>& maps);

}  // namespace beit
