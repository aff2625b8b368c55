#include "model/resample.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

FeatureMap BilinearResize::Forward(dnnl::stream& stream, const FeatureMap& x, int64_t out_h, int64_t out_w) const {
  if (x.height == out_h && x.width == out_w) return x;
  FeatureMap y(x.batch, out_h, out_w, x.channels);
  dnnl::memory::desc src({x.batch, x.channels, x.height, x.width}, dt::f32, tag::nhwc);
  dnnl::memory::desc dst({x.batch, x.channels, out_h, out_w}, dt::f32, tag::nhwc);
  const auto& prim = cache_.GetOrCreate({x.batch, x.channels, x.height, x.width, out_h, out_w}, [&] {
    dnnl::resampling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::resampling_linear, src, dst);
    return dnnl::resampling_forward(dnnl::resampling_forward::primitive_desc(d, CpuEngine()));
  });
  prim.execute(stream, {{DNNL_ARG_SRC, Wrap(src, x.data.data())}, {DNNL_ARG_DST, Wrap(dst, y.data.data())}});
  stream.wait();
  return y;
}

}  // namespace beit
