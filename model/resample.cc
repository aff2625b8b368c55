#include "model/resample.h"

#include <string>

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
    dnnl::resampling_forward::primitive_desc pd(d, CpuEngine());
    // oneDNN 2.6.3's jit:avx512_core_bf16 linear resampler crashes (SIGSEGV) on NHWC maps of 512+
    // channels, e.g. 768 x 20x20 -> 40x40 in BEiT-base's UperNet; take the next implementation.
    while (std::string(pd.impl_info_str()).find("avx512_core_bf16") != std::string::npos && pd.next_impl()) {
    }
    return dnnl::resampling_forward(pd);
  });
  prim.execute(stream, {{DNNL_ARG_SRC, Wrap(src, x.data.data())}, {DNNL_ARG_DST, Wrap(dst, y.data.data())}});
  stream.wait();
  return y;
}

}  // namespace beit
