// Pooling used by the segmentation heads, on NHWC feature maps.
//
// Contract:
// - MaxPool2x2 is torch.nn.MaxPool2d(kernel_size=2, stride=2) (fpn4), on oneDNN pooling.
// - AdaptiveAvgPool is torch.nn.AdaptiveAvgPool2d(size): output cell (i, j) averages input rows
//   [floor(i*H/s), ceil((i+1)*H/s)) and the same for columns. Windows may overlap and differ in
//   size, which oneDNN's fixed-window pooling cannot express, so it is a direct loop; it runs on
//   tiny outputs (the PSP scales, <= 6x6).
#pragma once

#include <cstdint>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/dnnl_context.h"
#include "model/ops/feature_map.h"

namespace beit {

class MaxPool2x2 {
 public:
  FeatureMap Forward(dnnl::stream& stream, const FeatureMap& x) const;

 private:
  PrimitiveCache<std::tuple<int64_t, int64_t, int64_t, int64_t>, dnnl::pooling_forward> cache_;
};

FeatureMap AdaptiveAvgPool(const FeatureMap& x, int64_t size);

}  // namespace beit
