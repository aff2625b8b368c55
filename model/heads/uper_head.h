// BeitUperHead: UperNet decode head (pyramid pooling on the last feature + FPN) of
// BeitForSemanticSegmentation.
//
// Contract:
// - Loads decode_head.* for hidden size C, pool_scales and num_labels from the config.
// - Forward takes >= 3 NHWC feature maps of C channels (fpn outputs, finest first): laterals come
//   from maps 0..2, the PSP branch from the last map (so with exactly 3 maps the third feeds both,
//   as in Transformers). Returns logits [B, H0, W0, num_labels] at map 0's resolution.
#pragma once

#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/io/checkpoint.h"
#include "model/ops/conv.h"
#include "model/ops/feature_map.h"
#include "model/ops/resample.h"

namespace beit {

class UperHead {
 public:
  UperHead(const BeitConfig& config, Checkpoint& checkpoint);

  FeatureMap Forward(dnnl::stream& stream, const std::vector<FeatureMap>& features) const;

 private:
  std::vector<int> pool_scales_;
  std::vector<std::unique_ptr<Conv2d>> psp_convs_, lateral_convs_, fpn_convs_;
  std::unique_ptr<Conv2d> bottleneck_, fpn_bottleneck_, classifier_;
};

}  // namespace beit
