#include "model/linear.h"

#include "model/activation.h"
#include "model/model_error.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

Linear::Linear(const Tensor& weight, const Tensor* bias, Options options)
    : in_(weight.dim(1)), out_(weight.dim(0)), options_(std::move(options)) {
  weight_in_out_ = Tensor({in_, out_});
  for (int64_t o = 0; o < out_; ++o) {
    for (int64_t i = 0; i < in_; ++i) weight_in_out_.data[i * out_ + o] = weight.data[o * in_ + i];
  }
  bias_ = Tensor({1, out_});
  if (bias) bias_.data = bias->data;
}

const dnnl::matmul& Linear::PrimitiveFor(int64_t rows) const {
  return cache_.GetOrCreate(rows, [&] {
    dnnl::memory::desc src({rows, in_}, dt::f32, tag::ab);
    dnnl::memory::desc wei({in_, out_}, dt::f32, tag::ab);
    dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
    dnnl::memory::desc dst({rows, out_}, dt::f32, tag::ab);
    dnnl::post_ops ops;
    AppendActivation(ops, options_.activation);
    if (options_.accumulate) ops.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, bia, dst), attr, CpuEngine());
    return dnnl::matmul(pd);
  });
}

void Linear::Forward(dnnl::stream& stream, const float* x, int64_t rows, float* y) const {
  if (rows == 0) return;
  const dnnl::matmul& mm = PrimitiveFor(rows);
  dnnl::memory::desc src({rows, in_}, dt::f32, tag::ab);
  dnnl::memory::desc wei({in_, out_}, dt::f32, tag::ab);
  dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
  dnnl::memory::desc dst({rows, out_}, dt::f32, tag::ab);
  mm.execute(stream, {{DNNL_ARG_SRC, Wrap(src, x)},
                      {DNNL_ARG_WEIGHTS, Wrap(wei, weight_in_out_.ptr())},
                      {DNNL_ARG_BIAS, Wrap(bia, bias_.ptr())},
                      {DNNL_ARG_DST, Wrap(dst, y)}});
}

}  // namespace beit
