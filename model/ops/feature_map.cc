#include "model/ops/feature_map.h"

#include <algorithm>

#include "model/model_error.h"

namespace beit {

Tensor ToNchw(const FeatureMap& m) {
  Tensor out({m.batch, m.channels, m.height, m.width});
  const int64_t hw = m.height * m.width;
  for (int64_t b = 0; b < m.batch; ++b) {
    for (int64_t p = 0; p < hw; ++p) {
      const float* src = m.data.data() + (b * hw + p) * m.channels;
      for (int64_t c = 0; c < m.channels; ++c) out.data[(b * m.channels + c) * hw + p] = src[c];
    }
  }
  return out;
}

FeatureMap ConcatChannels(const std::vector<const FeatureMap*>& maps) {
  const FeatureMap& first = *maps.front();
  int64_t total = 0;
  for (const FeatureMap* m : maps) {
    if (m->batch != first.batch || m->height != first.height || m->width != first.width) {
      throw ModelError("internal: concatenating feature maps of different sizes");
    }
    total += m->channels;
  }
  FeatureMap out(first.batch, first.height, first.width, total);
  for (int64_t p = 0; p < first.pixels(); ++p) {
    float* dst = out.data.data() + p * total;
    for (const FeatureMap* m : maps) {
      const float* src = m->data.data() + p * m->channels;
      dst = std::copy(src, src + m->channels, dst);
    }
  }
  return out;
}

}  // namespace beit
