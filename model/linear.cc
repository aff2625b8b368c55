#include "model/linear.h"

#include "model/activation.h"
#include "model/model_error.h"

#include <cstring>
#include <vector>

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {
// Rows of the matmul used to let oneDNN choose the weights' layout (a batch of BEiT tokens).
constexpr int64_t kLayoutProbeRows = 256;

thread_local Precision current_precision = Precision::kF32;

dt ComputeType(Precision p) { return p == Precision::kBF16 ? dt::bf16 : dt::f32; }

// float -> bfloat16 with round-to-nearest-even, as oneDNN's own conversion (inputs are finite).
void ToBf16(const float* x, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    out[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}
}  // namespace

ScopedLinearPrecision::ScopedLinearPrecision(Precision precision) : previous_(current_precision) {
  current_precision = precision;
}
ScopedLinearPrecision::~ScopedLinearPrecision() { current_precision = previous_; }

Linear::Linear(const Tensor& weight, const Tensor* bias, Options options)
    : in_(weight.dim(1)), out_(weight.dim(0)), options_(std::move(options)), precision_(current_precision) {
  Tensor plain({in_, out_});
  for (int64_t o = 0; o < out_; ++o) {
    for (int64_t i = 0; i < in_; ++i) plain.data[i * out_ + o] = weight.data[o * in_ + i];
  }
  bias_ = Tensor({1, out_});
  if (bias) bias_.data = bias->data;
  // Let the kernel pick its preferred (blocked) weights layout, then reorder once: the f32
  // brgemm kernels run about 1.5x faster on blocked weights than on plain [in, out].
  const dnnl::memory::desc any({in_, out_}, ComputeType(precision_), tag::any);
  weights_md_ = MakePrimitiveDesc(kLayoutProbeRows, any).weights_desc();
  weights_ = dnnl::memory(weights_md_, CpuEngine());
  const dnnl::memory plain_memory = Wrap(dnnl::memory::desc({in_, out_}, dt::f32, tag::ab), plain.ptr());
  dnnl::stream stream(CpuEngine());
  dnnl::reorder(plain_memory, weights_).execute(stream, const_cast<dnnl::memory&>(plain_memory), weights_);
  stream.wait();
}

dnnl::matmul::primitive_desc Linear::MakePrimitiveDesc(int64_t rows, const dnnl::memory::desc& weights) const {
  dnnl::memory::desc src({rows, in_}, ComputeType(precision_), tag::ab);
  dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
  dnnl::memory::desc dst({rows, out_}, dt::f32, tag::ab);
  dnnl::post_ops ops;
  AppendActivation(ops, options_.activation);
  if (options_.accumulate) ops.append_sum(1.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bia, dst), attr, CpuEngine());
}

const dnnl::matmul& Linear::PrimitiveFor(int64_t rows) const {
  return cache_.GetOrCreate(rows, [&] { return dnnl::matmul(MakePrimitiveDesc(rows, weights_md_)); });
}

void Linear::Forward(dnnl::stream& stream, const float* x, int64_t rows, float* y) const {
  if (rows == 0) return;
  const dnnl::matmul& mm = PrimitiveFor(rows);
  dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
  dnnl::memory::desc dst({rows, out_}, dt::f32, tag::ab);
  dnnl::memory src;
  if (precision_ == Precision::kBF16) {
    // Reused per thread: no allocation per matmul once a thread has seen its largest input.
    thread_local std::vector<uint16_t> x_bf16;
    x_bf16.resize(static_cast<size_t>(rows * in_));
    ToBf16(x, x_bf16.size(), x_bf16.data());
    src = dnnl::memory(dnnl::memory::desc({rows, in_}, dt::bf16, tag::ab), CpuEngine(), x_bf16.data());
  } else {
    src = Wrap(dnnl::memory::desc({rows, in_}, dt::f32, tag::ab), x);
  }
  mm.execute(stream, {{DNNL_ARG_SRC, src},
                      {DNNL_ARG_WEIGHTS, weights_},
                      {DNNL_ARG_BIAS, Wrap(bia, bias_.ptr())},
                      {DNNL_ARG_DST, Wrap(dst, y)}});
}

}  // namespace beit
