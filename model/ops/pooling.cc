#include "model/ops/pooling.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

FeatureMap MaxPool2x2::Forward(dnnl::stream& stream, const FeatureMap& x) const {
  const int64_t oh = x.height / 2, ow = x.width / 2;
  FeatureMap y(x.batch, oh, ow, x.channels);
  dnnl::memory::desc src({x.batch, x.channels, x.height, x.width}, dt::f32, tag::nhwc);
  dnnl::memory::desc dst({x.batch, x.channels, oh, ow}, dt::f32, tag::nhwc);
  const auto& prim = cache_.GetOrCreate({x.batch, x.channels, x.height, x.width}, [&] {
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst,
                                  {2, 2}, {2, 2}, {0, 0}, {0, 0});
    return dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(d, CpuEngine()));
  });
  prim.execute(stream, {{DNNL_ARG_SRC, Wrap(src, x.data.data())}, {DNNL_ARG_DST, Wrap(dst, y.data.data())}});
  stream.wait();
  return y;
}

FeatureMap AdaptiveAvgPool(const FeatureMap& x, int64_t size) {
  FeatureMap y(x.batch, size, size, x.channels);
  const int64_t C = x.channels;
  auto start = [](int64_t i, int64_t in, int64_t out) { return (i * in) / out; };
  auto end = [](int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; };
  for (int64_t b = 0; b < x.batch; ++b) {
    for (int64_t i = 0; i < size; ++i) {
      const int64_t y0 = start(i, x.height, size), y1 = end(i, x.height, size);
      for (int64_t j = 0; j < size; ++j) {
        const int64_t x0 = start(j, x.width, size), x1 = end(j, x.width, size);
        float* dst = y.data.data() + ((b * size + i) * size + j) * C;
        for (int64_t c = 0; c < C; ++c) dst[c] = 0.f;
        for (int64_t r = y0; r < y1; ++r) {
          for (int64_t q = x0; q < x1; ++q) {
            const float* src = x.data.data() + ((b * x.height + r) * x.width + q) * C;
            for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
          }
        }
        const float count = static_cast<float>((y1 - y0) * (x1 - x0));
        for (int64_t c = 0; c < C; ++c) dst[c] /= count;
      }
    }
  }
  return y;
}

}  // namespace beit
