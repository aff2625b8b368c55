// Conv2d against a plain loop (f32, with BatchNorm folded and ReLU), and its bf16 form (built
// under a reduced ScopedPrecision) within bf16 rounding of the f32 result, for a convolution and
// a transposed convolution.
#include "model/conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace beit {
namespace {

constexpr int64_t kIn = 5, kOut = 3, kH = 6, kW = 7;

FeatureMap Input() {
  FeatureMap x(2, kH, kW, kIn);
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = std::sin(0.31f * i) + 0.2f;
  return x;
}

Tensor Weight(Shape shape) {
  Tensor w(std::move(shape));
  for (int64_t i = 0; i < w.numel(); ++i) w.data[i] = 0.3f * std::cos(0.7f * i);
  return w;
}

BatchNorm Norm() {
  BatchNorm bn;
  bn.gamma = Tensor({kOut}, {1.5f, 0.5f, -1.f});
  bn.beta = Tensor({kOut}, {0.1f, -0.2f, 0.3f});
  bn.mean = Tensor({kOut}, {0.05f, -0.1f, 0.2f});
  bn.var = Tensor({kOut}, {0.9f, 1.3f, 0.4f});
  return bn;
}

// 3x3, padding 1, then eval BatchNorm and ReLU, computed directly.
float Expected(const FeatureMap& x, const Tensor& w, const BatchNorm& bn, int64_t b, int64_t y, int64_t xx, int64_t o) {
  double acc = 0;
  for (int64_t i = 0; i < kIn; ++i) {
    for (int64_t ky = 0; ky < 3; ++ky) {
      for (int64_t kx = 0; kx < 3; ++kx) {
        const int64_t sy = y + ky - 1, sx = xx + kx - 1;
        if (sy < 0 || sy >= kH || sx < 0 || sx >= kW) continue;
        acc += double(x.data[((b * kH + sy) * kW + sx) * kIn + i]) * w.data[((o * kIn + i) * 3 + ky) * 3 + kx];
      }
    }
  }
  const double normed = (acc - bn.mean.data[o]) / std::sqrt(bn.var.data[o] + bn.eps) * bn.gamma.data[o] + bn.beta.data[o];
  return float(std::max(0.0, normed));
}

// 3x3, padding 1, ReLU: the shape of UperNet's and the FCN head's ConvModules.
Conv2d::Options PaddedRelu() {
  Conv2d::Options options;
  options.padding = 1;
  options.activation = "relu";
  return options;
}

FeatureMap RunConv(Precision precision, const Tensor& w, const BatchNorm* bn, Conv2d::Options options,
               const FeatureMap& x) {
  ScopedPrecision scoped(precision);
  const Conv2d conv(w, nullptr, bn, options);
  dnnl::stream stream(CpuEngine());
  return conv.Forward(stream, x);
}

TEST(Conv2dTest, F32MatchesPlainLoopWithBatchNormAndRelu) {
  const FeatureMap x = Input();
  const Tensor w = Weight({kOut, kIn, 3, 3});
  const BatchNorm bn = Norm();
  const FeatureMap y = RunConv(Precision::kF32, w, &bn, PaddedRelu(), x);
  ASSERT_EQ(y.height, kH);
  ASSERT_EQ(y.width, kW);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t r = 0; r < kH; ++r) {
      for (int64_t c = 0; c < kW; ++c) {
        for (int64_t o = 0; o < kOut; ++o) {
          EXPECT_NEAR(y.data[((b * kH + r) * kW + c) * kOut + o], Expected(x, w, bn, b, r, c, o), 1e-5);
        }
      }
    }
  }
}

void ExpectBf16Close(const FeatureMap& f32, const FeatureMap& bf16) {
  ASSERT_EQ(f32.data.size(), bf16.data.size());
  float scale = 0, max_diff = 0;
  for (size_t i = 0; i < f32.data.size(); ++i) {
    scale = std::max(scale, std::fabs(f32.data[i]));
    max_diff = std::max(max_diff, std::fabs(f32.data[i] - bf16.data[i]));
  }
  EXPECT_LT(max_diff, 2e-2f * scale);  // bf16 operands: ~3 significant digits
  EXPECT_GT(max_diff, 0.f) << "bf16 path not taken";
}

TEST(Conv2dTest, ReducedPrecisionsRunInBf16CloseToF32) {
  const FeatureMap x = Input();
  const Tensor w = Weight({kOut, kIn, 3, 3});
  const BatchNorm bn = Norm();
  const FeatureMap f32 = RunConv(Precision::kF32, w, &bn, PaddedRelu(), x);
  for (Precision p : {Precision::kBF16, Precision::kInt8}) ExpectBf16Close(f32, RunConv(p, w, &bn, PaddedRelu(), x));
}

TEST(Conv2dTest, TransposedBf16CloseToF32) {
  const FeatureMap x = Input();
  const Tensor w = Weight({kIn, kOut, 2, 2});  // ConvTranspose2d layout [in, out, kh, kw]
  Conv2d::Options options;
  options.stride = 2;
  options.transposed = true;
  const FeatureMap f32 = RunConv(Precision::kF32, w, nullptr, options, x);
  EXPECT_EQ(f32.height, 2 * kH);
  ExpectBf16Close(f32, RunConv(Precision::kBF16, w, nullptr, options, x));
}

}  // namespace
}  // namespace beit
