#include "model/ops/conv3x3_matmuls.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "model/ops/activation.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {
constexpr int64_t kTaps = 9;
// Rows used to let oneDNN choose the taps' layout (a 160 x 162 map).
constexpr int64_t kLayoutProbeRows = 160 * 162;
}  // namespace

Conv3x3Matmuls::Conv3x3Matmuls(const Tensor& weight, const Tensor& bias, std::string activation)
    : in_(weight.dim(1)), out_(weight.dim(0)), activation_(std::move(activation)) {
  bias_ = Tensor({1, out_}, bias.data);
  const dnnl::memory::desc any({in_, out_}, dt::f32, tag::any);
  tap_md_ = MakePrimitiveDesc(kLayoutProbeRows, kMiddle, any).weights_desc();
  dnnl::stream stream(CpuEngine());
  Tensor plain({in_, out_});
  for (int64_t k = 0; k < kTaps; ++k) {
    for (int64_t o = 0; o < out_; ++o) {
      for (int64_t i = 0; i < in_; ++i) plain.data[i * out_ + o] = weight.data[(o * in_ + i) * kTaps + k];
    }
    taps_.emplace_back(tap_md_, CpuEngine());
    dnnl::memory user(dnnl::memory::desc({in_, out_}, dt::f32, tag::ab), CpuEngine(), plain.ptr());
    dnnl::reorder(user, taps_.back()).execute(stream, user, taps_.back());
    stream.wait();
  }
}

dnnl::matmul::primitive_desc Conv3x3Matmuls::MakePrimitiveDesc(int64_t rows, Step step,
                                                               const dnnl::memory::desc& weights) const {
  const dnnl::memory::desc src({rows, in_}, dt::f32, tag::ab), dst({rows, out_}, dt::f32, tag::ab);
  dnnl::post_ops ops;
  if (step != kFirst) ops.append_sum(1.f);
  if (step == kLast) AppendActivation(ops, activation_);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  if (step == kFirst) {
    const dnnl::memory::desc bia({1, out_}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bia, dst), attr, CpuEngine());
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), attr, CpuEngine());
}

const dnnl::matmul& Conv3x3Matmuls::PrimitiveFor(int64_t rows, Step step) const {
  return cache_.GetOrCreate({rows, step}, [&] { return dnnl::matmul(MakePrimitiveDesc(rows, step, tap_md_)); });
}

FeatureMap Conv3x3Matmuls::Forward(dnnl::stream& stream, const FeatureMap& x) const {
  const int64_t B = x.batch, H = x.height, W = x.width, Hp = H + 2, Wp = W + 2;
  if (B == 0 || H == 0 || W == 0) return FeatureMap(B, H, W, out_);
  // Zero-bordered copy, plus two pixels of slack: the last tap's view ends 2 pixels past the
  // buffer's last row.
  const int64_t padded_pixels = B * Hp * Wp + 2;
  std::unique_ptr<float[]> padded(new float[padded_pixels * in_]);  // every value written below
  char* p = reinterpret_cast<char*>(padded.get());
  const int64_t pixel_bytes = in_ * static_cast<int64_t>(sizeof(float));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < B * Hp; ++r) {
    char* row = p + r * Wp * pixel_bytes;
    const int64_t b = r / Hp, y = r % Hp - 1;
    if (y < 0 || y >= H) {
      std::memset(row, 0, Wp * pixel_bytes);
      continue;
    }
    std::memset(row, 0, pixel_bytes);
    std::memset(row + (Wp - 1) * pixel_bytes, 0, pixel_bytes);
    std::memcpy(row + pixel_bytes, x.data.data() + ((b * H + y) * W) * in_, W * pixel_bytes);
  }
  std::memset(p + B * Hp * Wp * pixel_bytes, 0, 2 * pixel_bytes);

  // Output pixel (b, y, x) is row (b * Hp + y) * Wp + x of the result; the rows cover image 0's
  // first row to image B-1's last.
  const int64_t rows = ((B - 1) * Hp + H) * Wp;
  std::unique_ptr<float[]> result(new float[rows * out_]);
  const dnnl::memory::desc src_md({rows, in_}, dt::f32, tag::ab), dst_md({rows, out_}, dt::f32, tag::ab);
  const dnnl::memory dst = Wrap(dst_md, result.get());
  for (int64_t k = 0; k < kTaps; ++k) {
    const Step step = k == 0 ? kFirst : (k == kTaps - 1 ? kLast : kMiddle);
    const char* view = p + ((k / 3) * Wp + (k % 3)) * pixel_bytes;
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, Wrap(src_md, view)}, {DNNL_ARG_WEIGHTS, taps_[k]}, {DNNL_ARG_DST, dst}};
    if (step == kFirst) args[DNNL_ARG_BIAS] = Wrap(dnnl::memory::desc({1, out_}, dt::f32, tag::ab), bias_.ptr());
    PrimitiveFor(rows, step).execute(stream, args);
  }
  stream.wait();

  FeatureMap y(B, H, W, out_);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < B * H; ++r) {
    const int64_t b = r / H, row = r % H;
    std::memcpy(y.data.data() + r * W * out_, result.get() + ((b * Hp + row) * Wp) * out_, W * out_ * sizeof(float));
  }
  return y;
}

}  // namespace beit
