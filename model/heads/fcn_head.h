// BeitFCNHead: the auxiliary FCN head of BeitForSemanticSegmentation (used in training for the
// auxiliary loss; served for inspection and parity checks).
//
// Contract: loads auxiliary_head.* (auxiliary_num_convs 3x3 ConvModules of auxiliary_channels,
// optional conv_cat when auxiliary_concat_input, 1x1 classifier). Forward reads feature map 2
// (Transformers' in_index) and returns [B, H, W, num_labels].
#pragma once

#include <memory>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/io/checkpoint.h"
#include "model/ops/conv.h"
#include "model/ops/feature_map.h"

namespace beit {

class FcnHead {
 public:
  static constexpr size_t kInIndex = 2;

  FcnHead(const BeitConfig& config, Checkpoint& checkpoint);

  FeatureMap Forward(dnnl::stream& stream, const std::vector<FeatureMap>& features) const;

 private:
  std::vector<std::unique_ptr<Conv2d>> convs_;
  std::unique_ptr<Conv2d> conv_cat_, classifier_;
};

}  // namespace beit
