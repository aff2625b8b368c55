#include "model/ops/conv.h"

#include <cmath>
#include <memory>

#include "model/ops/activation.h"
#include "model/ops/activation_buffer.h"
#include "model/ops/cpu_tier.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

// Whether oneDNN has a Winograd kernel for a 3x3 (stride 1, padding 1) f32 convolution of these
// channel counts with this activation on this CPU, asked on a small image.
bool WinogradAvailable(int64_t in, int64_t out, const std::string& activation) {
  dnnl::memory::desc src({1, in, 16, 16}, dt::f32, tag::any), dst({1, out, 16, 16}, dt::f32, tag::any);
  dnnl::memory::desc wei({out, in, 3, 3}, dt::f32, tag::any), bia({out}, dt::f32, tag::a);
  dnnl::post_ops ops;
  AppendActivation(ops, activation);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  try {
    dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, src,
                                        wei, bia, dst, {1, 1}, {0, 0}, {1, 1}, {1, 1}),
        attr, CpuEngine());
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

BatchNorm TakeBatchNorm(Checkpoint& ckpt, const std::string& prefix, int64_t channels) {
  BatchNorm bn;
  bn.gamma = ckpt.Take(prefix + "weight", {channels});
  bn.beta = ckpt.Take(prefix + "bias", {channels});
  bn.mean = ckpt.Take(prefix + "running_mean", {channels});
  bn.var = ckpt.Take(prefix + "running_var", {channels});
  return bn;
}

Conv2d::Conv2d(Tensor weight, const Tensor* bias, const BatchNorm* bn, Options options)
    : options_(std::move(options)),
      operand_type_(UsesBf16Operands(ScopedPrecision::Current()) ? dt::bf16 : dt::f32),
      weight_(std::move(weight)) {
  in_ = options_.transposed ? weight_.dim(0) : weight_.dim(1);
  out_ = options_.transposed ? weight_.dim(1) : weight_.dim(0);
  kernel_h_ = weight_.dim(2);
  kernel_w_ = weight_.dim(3);
  bias_ = bias ? *bias : Tensor({out_});
  if (bn) {
    const int64_t k = kernel_h_ * kernel_w_;
    for (int64_t o = 0; o < out_; ++o) {
      const float s = bn->gamma.data[o] / std::sqrt(bn->var.data[o] + bn->eps);
      for (int64_t i = 0; i < in_; ++i) {
        float* w = weight_.ptr() + (options_.transposed ? (i * out_ + o) : (o * in_ + i)) * k;
        for (int64_t j = 0; j < k; ++j) w[j] *= s;
      }
      bias_.data[o] = (bias_.data[o] - bn->mean.data[o]) * s + bn->beta.data[o];
    }
  }
  const auto& o = options_;
  const bool plain_3x3 =
      !o.transposed && kernel_h_ == 3 && kernel_w_ == 3 && o.stride == 1 && o.padding == 1 && o.dilation == 1;
  if (plain_3x3 && o.winograd && WinogradAvailable(in_, out_, o.activation)) {
    algorithm_ = Algorithm::kWinograd;
    operand_type_ = dt::f32;
  } else if (plain_3x3 && operand_type_ == dt::f32) {
    algorithm_ = Algorithm::kNineMatmuls;
    as_matmuls_ = std::make_unique<Conv3x3Matmuls>(weight_, bias_, o.activation);
    weight_ = Tensor();
  }
}

std::pair<int64_t, int64_t> Conv2d::OutputSize(int64_t h, int64_t w) const {
  const auto& o = options_;
  if (o.transposed) {
    return {(h - 1) * o.stride - 2 * o.padding + o.dilation * (kernel_h_ - 1) + 1,
            (w - 1) * o.stride - 2 * o.padding + o.dilation * (kernel_w_ - 1) + 1};
  }
  return {(h + 2 * o.padding - o.dilation * (kernel_h_ - 1) - 1) / o.stride + 1,
          (w + 2 * o.padding - o.dilation * (kernel_w_ - 1) - 1) / o.stride + 1};
}

const Conv2d::Compiled& Conv2d::CompiledFor(int64_t b, int64_t h, int64_t w) const {
  return cache_.GetOrCreate({b, h, w}, [&] {
    const auto [oh, ow] = OutputSize(h, w);
    const auto& o = options_;
    dnnl::memory::desc src({b, in_, h, w}, operand_type_, tag::nhwc);
    dnnl::memory::desc dst({b, out_, oh, ow}, dt::f32, tag::nhwc);
    const bool winograd = algorithm_ == Algorithm::kWinograd;
    dnnl::memory::desc src_any({b, in_, h, w}, dt::f32, tag::any), dst_any({b, out_, oh, ow}, dt::f32, tag::any);
    dnnl::memory::desc wei_any({out_, in_, kernel_h_, kernel_w_}, operand_type_, tag::any);
    dnnl::memory::desc bia({out_}, dt::f32, tag::a);
    dnnl::memory::dims strides{o.stride, o.stride}, pad{o.padding, o.padding}, dil{o.dilation - 1, o.dilation - 1};
    dnnl::post_ops ops;
    AppendActivation(ops, o.activation);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    if (winograd) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

    Compiled c;
    dnnl::memory::desc wanted;
    dnnl::memory::desc user_wei({out_, in_, kernel_h_, kernel_w_}, dt::f32, o.transposed ? tag::iohw : tag::oihw);
    if (o.transposed) {
      dnnl::deconvolution_forward::primitive_desc pd(
          dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                            src, wei_any, bia, dst, strides, dil, pad, pad),
          attr, CpuEngine());
      wanted = pd.weights_desc();
      c.primitive = dnnl::deconvolution_forward(pd);
    } else {
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(
              dnnl::prop_kind::forward_inference,
              winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct,
              winograd ? src_any : src, wei_any, bia, winograd ? dst_any : dst, strides, dil, pad, pad),
          attr, CpuEngine());
      wanted = pd.weights_desc();
      c.primitive = dnnl::convolution_forward(pd);
      if (winograd) {
        c.src = pd.src_desc();
        c.dst = pd.dst_desc();
        c.scratchpad = pd.scratchpad_desc();
        c.to_kernel = dnnl::reorder(dnnl::reorder::primitive_desc(CpuEngine(), src, CpuEngine(), c.src));
        c.from_kernel = dnnl::reorder(dnnl::reorder::primitive_desc(CpuEngine(), c.dst, CpuEngine(), dst));
      }
    }
    std::lock_guard<std::mutex> lock(weights_mu_);
    for (const auto& [desc, mem] : reordered_) {
      if (desc == wanted) c.weights = mem;
    }
    if (!c.weights) {
      c.weights = dnnl::memory(wanted, CpuEngine());
      dnnl::stream s(CpuEngine());
      dnnl::memory user(user_wei, CpuEngine(), const_cast<float*>(weight_.ptr()));
      dnnl::reorder(user, c.weights).execute(s, user, c.weights);
      s.wait();
      reordered_.emplace_back(wanted, c.weights);
    }
    return c;
  });
}

FeatureMap Conv2d::Forward(dnnl::stream& stream, const FeatureMap& x) const {
  if (as_matmuls_) return as_matmuls_->Forward(stream, x);
  if (algorithm_ == Algorithm::kWinograd) return ForwardWinograd(stream, x);
  const auto [oh, ow] = OutputSize(x.height, x.width);
  FeatureMap y(x.batch, oh, ow, out_);
  const Compiled& c = CompiledFor(x.batch, x.height, x.width);
  dnnl::memory::desc src({x.batch, in_, x.height, x.width}, operand_type_, tag::nhwc);
  dnnl::memory::desc dst({x.batch, out_, oh, ow}, dt::f32, tag::nhwc);
  dnnl::memory::desc bia({out_}, dt::f32, tag::a);
  const void* src_data = x.data.data();
  std::unique_ptr<uint16_t[]> x_bf16;  // uninitialised: every value is written below
  if (operand_type_ == dt::bf16) {
    // Rounded one pixel row per task; a buffer per call, not kept (head inputs reach
    // 160 x 160 x 3072 values at 640 x 640).
    x_bf16.reset(new uint16_t[x.data.size()]);
    const int64_t rows = x.batch * x.height, row = x.width * in_;
    const float* from = x.data.data();
    uint16_t* to = x_bf16.get();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) RoundToBf16(from + r * row, row, to + r * row);
    src_data = to;
  }
  c.primitive.execute(stream, {{DNNL_ARG_SRC, Wrap(src, src_data)},
                               {DNNL_ARG_WEIGHTS, c.weights},
                               {DNNL_ARG_BIAS, Wrap(bia, bias_.ptr())},
                               {DNNL_ARG_DST, Wrap(dst, y.data.data())}});
  stream.wait();
  return y;
}

FeatureMap Conv2d::ForwardWinograd(dnnl::stream& stream, const FeatureMap& x) const {
  const auto [oh, ow] = OutputSize(x.height, x.width);
  FeatureMap y(x.batch, oh, ow, out_);
  // One image at a time: the kernel's weight layout and working space depend on the batch, so a
  // batch-1 primitive keeps one transformed copy of the weights whatever batches arrive, and its
  // working space (and the blocked copies, which live for this call) stays at one image's size.
  const Compiled& c = CompiledFor(1, x.height, x.width);
  dnnl::memory::desc src({1, in_, x.height, x.width}, dt::f32, tag::nhwc);
  dnnl::memory::desc dst({1, out_, oh, ow}, dt::f32, tag::nhwc);
  dnnl::memory::desc bia({out_}, dt::f32, tag::a);
  dnnl::memory kernel_src(c.src, CpuEngine()), kernel_dst(c.dst, CpuEngine());
  dnnl::memory scratchpad(c.scratchpad, CpuEngine());
  const int64_t in_per_image = x.height * x.width * in_, out_per_image = oh * ow * out_;
  for (int64_t b = 0; b < x.batch; ++b) {
    dnnl::memory user_src = Wrap(src, x.data.data() + b * in_per_image);
    dnnl::memory user_dst = Wrap(dst, y.data.data() + b * out_per_image);
    c.to_kernel.execute(stream, user_src, kernel_src);
    c.primitive.execute(stream, {{DNNL_ARG_SRC, kernel_src},
                                 {DNNL_ARG_WEIGHTS, c.weights},
                                 {DNNL_ARG_BIAS, Wrap(bia, bias_.ptr())},
                                 {DNNL_ARG_DST, kernel_dst},
                                 {DNNL_ARG_SCRATCHPAD, scratchpad}});
    c.from_kernel.execute(stream, kernel_dst, user_dst);
  }
  stream.wait();
  return y;
}

std::unique_ptr<Conv2d> LoadConvModule(Checkpoint& ckpt, const std::string& prefix, int64_t in, int64_t out,
                                       int64_t kernel, int64_t padding, int64_t dilation) {
  Tensor w = ckpt.Take(prefix + "conv.weight", {out, in, kernel, kernel});
  BatchNorm bn = TakeBatchNorm(ckpt, prefix + "bn.", out);
  Conv2d::Options o;
  o.padding = padding;
  o.dilation = dilation;
  o.activation = "relu";
  return std::make_unique<Conv2d>(std::move(w), nullptr, &bn, o);
}

}  // namespace beit
