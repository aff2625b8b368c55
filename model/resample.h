// Bilinear resizing of NHWC feature maps on oneDNN (resampling_linear), matching
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) as the UperNet head uses.
//
// Contract: Forward returns x resized to (out_h, out_w), channels unchanged; a same-size call
// returns a copy. Primitives cached per (B, C, H, W, out_h, out_w).
#pragma once

#include <cstdint>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/dnnl_context.h"
#include "model/feature_map.h"

namespace beit {

class BilinearResize {
 public:
  FeatureMap Forward(dnnl::stream& stream, const FeatureMap& x, int64_t out_h, int64_t out_w) const;

 private:
  PrimitiveCache<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, dnnl::resampling_forward> cache_;
};

}  // namespace beit
