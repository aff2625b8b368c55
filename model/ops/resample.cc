#include "model/ops/resample.h"

#include "model/ops/interpolate.h"

namespace beit {

FeatureMap ResizeBilinear(const FeatureMap& x, int64_t out_h, int64_t out_w) {
  if (x.height == out_h && x.width == out_w) return x;
  FeatureMap y(x.batch, out_h, out_w, x.channels);
  const std::vector<LinearTap> rows = LinearTaps(x.height, out_h), cols = LinearTaps(x.width, out_w);
  const int64_t C = x.channels, row_stride = x.width * C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < x.batch; ++b) {
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const LinearTap& a = rows[oy];
      const float* image = x.data.data() + b * x.height * row_stride;
      const float* r0 = image + a.i0 * row_stride;
      const float* r1 = image + a.i1 * row_stride;
      float* out = y.data.data() + ((b * out_h + oy) * out_w) * C;
      for (int64_t ox = 0; ox < out_w; ++ox, out += C) {
        const LinearTap& t = cols[ox];
        const float* p00 = r0 + t.i0 * C;
        const float* p01 = r0 + t.i1 * C;
        const float* p10 = r1 + t.i0 * C;
        const float* p11 = r1 + t.i1 * C;
        for (int64_t c = 0; c < C; ++c) {
          out[c] = a.l0 * (t.l0 * p00[c] + t.l1 * p01[c]) + a.l1 * (t.l0 * p10[c] + t.l1 * p11[c]);
        }
      }
    }
  }
  return y;
}

}  // namespace beit
