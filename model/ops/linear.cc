#include "model/ops/linear.h"

#include "model/ops/activation.h"
#include "model/ops/cpu_tier.h"
#include "model/ops/kernel_policy.h"
#include "model/ops/op_profile.h"
#include "model/model_error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {
// Rows of the matmul used to let oneDNN choose the weights' layout (a batch of BEiT tokens).
constexpr int64_t kLayoutProbeRows = 256;

// Symmetric s8 of one row: q = round(x / scale), scale = max|x| / levels (1 for an all-zero or
// denormal row). Returns the scale; a row holding NaN or Inf returns NaN, so the row's outputs are
// NaN as in f32 instead of plausible numbers. Round-half-even through the 1.5 * 2^23 trick, which
// the compiler vectorises.
float QuantizeRow(const float* x, int64_t n, int8_t* q, float levels = 127.f) {
  // max |x| as the largest magnitude bit pattern: an integer max vectorises without fast-math,
  // and any pattern at or above Inf's means the row holds Inf or NaN.
  uint32_t max_bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    max_bits = std::max(max_bits, bits & 0x7fffffffu);
  }
  if (max_bits >= 0x7f800000u) {
    std::fill(q, q + n, int8_t{0});
    return std::numeric_limits<float>::quiet_NaN();
  }
  float amax;
  std::memcpy(&amax, &max_bits, 4);
  if (amax < std::numeric_limits<float>::min()) {
    std::fill(q, q + n, int8_t{0});
    return 1.f;
  }
  const float scale = amax / levels;
  const float inv = 1.f / scale;
  for (int64_t i = 0; i < n; ++i) {
    const float r = (x[i] * inv + 12582912.f) - 12582912.f;
    q[i] = static_cast<int8_t>(std::clamp(r, -levels, levels));
  }
  return scale;
}

}  // namespace

dt LinearInputType(Precision precision) {
  switch (precision) {
    case Precision::kBF16: return dt::bf16;
    case Precision::kInt8: return dt::s8;
    default: return dt::f32;
  }
}

Linear::Linear(const Tensor& weight, const Tensor* bias, Options options)
    : in_(weight.dim(1)), out_(weight.dim(0)), options_(std::move(options)), precision_(ScopedPrecision::Current()) {
  Tensor plain({in_, out_});
  for (int64_t o = 0; o < out_; ++o) {
    for (int64_t i = 0; i < in_; ++i) plain.data[i * out_ + o] = weight.data[o * in_ + i];
  }
  bias_ = Tensor({1, out_});
  if (bias) bias_.data = bias->data;
  // int8: each output channel (a row of W) quantised like an input row, its scale given to the
  // kernel as that channel's output scale.
  std::vector<int8_t> quantized;
  if (precision_ == Precision::kInt8) {
    weight_scales_.resize(out_);
    std::vector<int8_t> row(in_);
    quantized.resize(static_cast<size_t>(in_ * out_));
    // Without VNNI the s8 x s8 kernels' 16-bit pair sums saturate on full-range weights.
    const float levels = TierHasVnni(EffectiveCpuTier()) ? 127.f : 63.f;
    for (int64_t o = 0; o < out_; ++o) {
      weight_scales_[o] = QuantizeRow(weight.ptr() + o * in_, in_, row.data(), levels);
      for (int64_t i = 0; i < in_; ++i) quantized[i * out_ + o] = row[i];
    }
  }
  // Let the kernel pick its preferred (blocked) weights layout, then reorder once: the f32
  // brgemm kernels run about 1.5x faster on blocked weights than on plain [in, out]. (For s8
  // weights the reorder also computes the compensation the s8 x s8 kernels need.)
  // int8: the epilogue goes inside the matmul where oneDNN's kernel takes it (VNNI and AMX
  // brgemm; elsewhere oneDNN 2.6 offers only its reference kernel for it). Its per-token scale is
  // a [1, rows, 1] operand, which brgemm broadcasts only in a 3D matmul: those Linears compute
  // [1, rows, in] x [1, in, out].
  if (precision_ == Precision::kInt8 && ActiveKernelPolicy().int8_fused_epilogue) {
    fused_epilogue_ = true;
    const dnnl::memory::desc any3({1, in_, out_}, dt::s8, tag::any);
    const std::string impl = MakePrimitiveDesc(kLayoutProbeRows, any3, dt::f32).impl_info_str();
    fused_epilogue_ = impl.rfind("ref", 0) != 0;
  }
  const dnnl::memory::desc any = fused_epilogue_ ? dnnl::memory::desc({1, in_, out_}, dt::s8, tag::any)
                                                 : dnnl::memory::desc({in_, out_}, LinearInputType(precision_), tag::any);
  weights_md_ = MakePrimitiveDesc(kLayoutProbeRows, any, dt::f32).weights_desc();
  weights_ = dnnl::memory(weights_md_, CpuEngine());
  const dnnl::memory::dims plain_dims = fused_epilogue_ ? dnnl::memory::dims{1, in_, out_} : dnnl::memory::dims{in_, out_};
  const tag plain_tag = fused_epilogue_ ? tag::abc : tag::ab;
  const dnnl::memory plain_memory =
      precision_ == Precision::kInt8
          ? dnnl::memory(dnnl::memory::desc(plain_dims, dt::s8, plain_tag), CpuEngine(), quantized.data())
          : Wrap(dnnl::memory::desc(plain_dims, dt::f32, plain_tag), plain.ptr());
  dnnl::stream stream(CpuEngine());
  dnnl::reorder(plain_memory, weights_).execute(stream, const_cast<dnnl::memory&>(plain_memory), weights_);
  stream.wait();
}

dnnl::matmul::primitive_desc Linear::MakePrimitiveDesc(int64_t rows, const dnnl::memory::desc& weights,
                                                       dt y_type) const {
  dnnl::memory::desc src({rows, in_}, LinearInputType(precision_), tag::ab);
  // int8 leaves its f32 product to the epilogue, which writes y.
  dnnl::memory::desc dst({rows, out_}, precision_ == Precision::kInt8 ? dt::f32 : y_type, tag::ab);
  if (fused_epilogue_) {
    // y = act(acc * weight scale[o] * row scale[r] + bias[o]) (+ y): every step in the kernel.
    const dnnl::memory::desc src3({1, rows, in_}, dt::s8, tag::abc), dst3({1, rows, out_}, y_type, tag::abc);
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({1, rows, 1}, dt::f32, tag::abc));
    ops.append_binary(dnnl::algorithm::binary_add, dnnl::memory::desc({1, 1, out_}, dt::f32, tag::abc));
    AppendActivation(ops, options_.activation);
    if (options_.accumulate) ops.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 2, weight_scales_);
    attr.set_post_ops(ops);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src3, weights, dst3), attr, CpuEngine());
  }
  if (precision_ == Precision::kInt8) {
    // acc * weight scale per output channel only; the per-row input scale, bias, activation and
    // residual sum follow in the epilogue (oneDNN 2.6's 2D matmul has no fast per-row scale).
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, weight_scales_);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, CpuEngine());
  }
  dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
  dnnl::post_ops ops;
  AppendActivation(ops, options_.activation);
  if (options_.accumulate) ops.append_sum(1.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bia, dst), attr, CpuEngine());
}

const dnnl::matmul& Linear::PrimitiveFor(int64_t rows, dt y_type) const {
  return cache_.GetOrCreate({rows, y_type},
                            [&] { return dnnl::matmul(MakePrimitiveDesc(rows, weights_md_, y_type)); });
}

const dnnl::binary& Linear::EpilogueFor(int64_t rows) const {
  return epilogue_cache_.GetOrCreate(rows, [&] {
    // dst = act(src0 * row scale + bias) (+ dst when accumulating), src0 the matmul's output
    // (already scaled per output channel), the row scales a [rows, 1] broadcast.
    const dnnl::memory::desc src0({rows, out_}, dt::f32, tag::ab), row_scales({rows, 1}, dt::f32, tag::ab);
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, dnnl::memory::desc({1, out_}, dt::f32, tag::ab));
    AppendActivation(ops, options_.activation);
    if (options_.accumulate) ops.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return dnnl::binary(dnnl::binary::primitive_desc(
        dnnl::binary::desc(dnnl::algorithm::binary_mul, src0, row_scales, src0), attr, CpuEngine()));
  });
}

void Linear::ForwardInt8(dnnl::stream& stream, const float* x, int64_t rows, ActivationView y) const {
  // Per-thread buffers, reused: no allocation per call once a thread has seen its largest input.
  thread_local std::vector<int8_t> x_s8;
  thread_local std::vector<float> row_scales, product;
  x_s8.resize(static_cast<size_t>(rows * in_));
  row_scales.resize(static_cast<size_t>(rows));
  int8_t* q = x_s8.data();
  float* scales = row_scales.data();
  {
    ScopedOpTimer timer(OpClass::kQuantize);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) scales[r] = QuantizeRow(x + r * in_, in_, q + r * in_);
  }
  if (fused_epilogue_) {
    ScopedOpTimer timer(OpClass::kLinearMatmul);
    PrimitiveFor(rows, y.type)
        .execute(stream, {{DNNL_ARG_SRC, Wrap(dnnl::memory::desc({1, rows, in_}, dt::s8, tag::abc), q)},
                          {DNNL_ARG_WEIGHTS, weights_},
                          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                           Wrap(dnnl::memory::desc({1, rows, 1}, dt::f32, tag::abc), scales)},
                          {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1,
                           Wrap(dnnl::memory::desc({1, 1, out_}, dt::f32, tag::abc), bias_.ptr())},
                          {DNNL_ARG_DST, Wrap(dnnl::memory::desc({1, rows, out_}, y.type, tag::abc), y.data)}});
    return;
  }
  product.resize(static_cast<size_t>(rows * out_));
  float* acc = product.data();
  const dnnl::memory::desc src({rows, in_}, dt::s8, tag::ab), dst({rows, out_}, dt::f32, tag::ab);
  {
    ScopedOpTimer timer(OpClass::kLinearMatmul);
    PrimitiveFor(rows, dt::f32).execute(stream, {{DNNL_ARG_SRC, dnnl::memory(src, CpuEngine(), q)},
                                        {DNNL_ARG_WEIGHTS, weights_},
                                        {DNNL_ARG_DST, Wrap(dst, acc)}});
  }
  ScopedOpTimer timer(OpClass::kEpilogue);
  const bool bf16_out = y.type == dt::bf16;
  if (bf16_out && options_.activation == "linear") {
    // Row scale, bias and rounding in one pass (oneDNN 2.6's binary has no fast f32 -> bf16 path).
    stream.wait();
    uint16_t* out = static_cast<uint16_t*>(y.data);
    const float* bias = bias_.ptr();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* row = acc + r * out_;
      const float s = scales[r];
      for (int64_t o = 0; o < out_; ++o) row[o] = row[o] * s + bias[o];
      RoundToBf16(row, out_, out + r * out_);
    }
    return;
  }
  float* epilogue_out = bf16_out ? acc : static_cast<float*>(y.data);
  EpilogueFor(rows).execute(
      stream, {{DNNL_ARG_SRC_0, Wrap(dst, acc)},
               {DNNL_ARG_SRC_1, Wrap(dnnl::memory::desc({rows, 1}, dt::f32, tag::ab), scales)},
               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                Wrap(dnnl::memory::desc({1, out_}, dt::f32, tag::ab), bias_.ptr())},
               {DNNL_ARG_DST, Wrap(dst, epilogue_out)}});
  if (bf16_out) {
    stream.wait();
    RoundToBf16(acc, rows * out_, static_cast<uint16_t*>(y.data));
  }
}

void Linear::Forward(dnnl::stream& stream, ConstActivationView x, int64_t rows, int64_t group_rows,
                     ActivationView y) const {
  if (rows == 0) return;
  if (group_rows <= 0 || rows % group_rows != 0) {
    throw ModelError("Linear: " + std::to_string(rows) + " rows are not whole groups of " + std::to_string(group_rows));
  }
  if (x.type != dt::f32 && !(x.type == dt::bf16 && precision_ == Precision::kBF16)) {
    throw ModelError(std::string("a ") + PrecisionName(precision_) + " Linear takes f32 inputs");
  }
  if (y.type != dt::f32 && (y.type != dt::bf16 || precision_ == Precision::kF32)) {
    throw ModelError(std::string("a ") + PrecisionName(precision_) + " Linear writes f32 outputs");
  }
  if (y.type != dt::f32 && precision_ == Precision::kInt8 && options_.accumulate) {
    throw ModelError("an int8 Linear with a residual sum writes f32 outputs");
  }
  // How rows go through the matmul is the kernel policy's choice (kernel_policy.h), by measured
  // speed: int8 in near-equal slices of at most int8_max_rows rows (BEiT-base batch 8 with VNNI:
  // four of 394, so the quantised input stays in cache) or whole; exact integer sums make any
  // slicing give the same answers. f32 and bf16 whole or one image (group) at a time.
  const KernelPolicy& policy = ActiveKernelPolicy();
  int64_t chunk = rows;
  if (precision_ == Precision::kInt8) {
    if (policy.int8_max_rows > 0) {
      const int64_t chunks = (rows + policy.int8_max_rows - 1) / policy.int8_max_rows;
      chunk = (rows + chunks - 1) / chunks;
    }
  } else if (!policy.linear_whole_batch) {
    chunk = group_rows;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    ForwardRows(stream, {static_cast<const char*>(x.data) + r0 * in_ * ElementBytes(x.type), x.type}, n,
                {static_cast<char*>(y.data) + r0 * out_ * ElementBytes(y.type), y.type});
  }
}

void Linear::ForwardRows(dnnl::stream& stream, ConstActivationView x, int64_t rows, ActivationView y) const {
  if (precision_ == Precision::kInt8) {
    ForwardInt8(stream, static_cast<const float*>(x.data), rows, y);
    return;
  }
  const dnnl::matmul& mm = PrimitiveFor(rows, y.type);
  const dt src_type = LinearInputType(precision_);
  const void* src = x.data;
  if (x.type != src_type) {
    // f32 input to a bf16 Linear: rounded into a buffer reused per thread (no allocation per
    // matmul once a thread has seen its largest input).
    ScopedOpTimer timer(OpClass::kQuantize);
    thread_local std::vector<uint16_t> x_bf16;
    x_bf16.resize(static_cast<size_t>(rows * in_));
    RoundToBf16(static_cast<const float*>(x.data), rows * in_, x_bf16.data());
    src = x_bf16.data();
  }
  ScopedOpTimer timer(OpClass::kLinearMatmul);
  mm.execute(stream, {{DNNL_ARG_SRC, Wrap(dnnl::memory::desc({rows, in_}, src_type, tag::ab), src)},
                      {DNNL_ARG_WEIGHTS, weights_},
                      {DNNL_ARG_BIAS, Wrap(dnnl::memory::desc({1, out_}, dt::f32, tag::ab), bias_.ptr())},
                      {DNNL_ARG_DST, Wrap(dnnl::memory::desc({rows, out_}, y.type, tag::ab), y.data)}});
}

}  // namespace beit
