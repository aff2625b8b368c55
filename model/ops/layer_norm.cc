#include "model/ops/layer_norm.h"

#include "model/ops/op_profile.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

LayerNorm::LayerNorm(Tensor gamma, Tensor beta, float eps)
    : width_(gamma.numel()), eps_(eps), gamma_(std::move(gamma)), beta_(std::move(beta)) {}

void LayerNorm::Forward(dnnl::stream& stream, const float* x, int64_t rows, float* y) const {
  ScopedOpTimer timer(OpClass::kLayerNorm);
  if (rows == 0) return;
  dnnl::memory::desc md({rows, width_}, dt::f32, tag::ab);
  const auto& ln = cache_.GetOrCreate(rows, [&] {
    using flags = dnnl::normalization_flags;
    dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md, eps_,
                                              flags::use_scale | flags::use_shift);
    return dnnl::layer_normalization_forward(
        dnnl::layer_normalization_forward::primitive_desc(d, CpuEngine()));
  });
  dnnl::memory::desc cmd({width_}, dt::f32, tag::a);
  ln.execute(stream, {{DNNL_ARG_SRC, Wrap(md, x)},
                      {DNNL_ARG_DST, Wrap(md, y)},
                      {DNNL_ARG_SCALE, Wrap(cmd, gamma_.ptr())},
                      {DNNL_ARG_SHIFT, Wrap(cmd, beta_.ptr())}});
}

}  // namespace beit
