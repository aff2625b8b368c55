// Conv2d against a plain loop (f32, with BatchNorm folded and ReLU) on each 3x3 algorithm —
// Winograd for channel counts oneDNN has it for, nine matmuls otherwise — and its bf16 form
// (built under a reduced ScopedPrecision) within bf16 rounding of the f32 result, for a
// convolution and a transposed convolution.
#include "model/ops/conv.h"

#include <gtest/gtest.h>

#include "tests/model/ops/cpu_tier_testing.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

namespace beit {
namespace {

constexpr int64_t kIn = 5, kOut = 3, kH = 6, kW = 7;

FeatureMap Input(int64_t channels = kIn) {
  FeatureMap x(2, kH, kW, channels);
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = std::sin(0.31f * i) + 0.2f;
  return x;
}

Tensor Weight(Shape shape) {
  Tensor w(std::move(shape));
  for (int64_t i = 0; i < w.numel(); ++i) w.data[i] = 0.3f * std::cos(0.7f * i);
  return w;
}

BatchNorm Norm(int64_t channels = kOut) {
  BatchNorm bn;
  bn.gamma = bn.beta = bn.mean = bn.var = Tensor({channels});
  for (int64_t o = 0; o < channels; ++o) {
    bn.gamma.data[o] = std::vector<float>{1.5f, 0.5f, -1.f}[o % 3];
    bn.beta.data[o] = std::vector<float>{0.1f, -0.2f, 0.3f}[o % 3];
    bn.mean.data[o] = std::vector<float>{0.05f, -0.1f, 0.2f}[o % 3] + 0.01f * o;
    bn.var.data[o] = std::vector<float>{0.9f, 1.3f, 0.4f}[o % 3];
  }
  return bn;
}

// 3x3, padding 1, then eval BatchNorm and ReLU, computed directly.
float Expected(const FeatureMap& x, const Tensor& w, const BatchNorm& bn, int64_t b, int64_t y, int64_t xx, int64_t o) {
  const int64_t in = x.channels;
  double acc = 0;
  for (int64_t i = 0; i < in; ++i) {
    for (int64_t ky = 0; ky < 3; ++ky) {
      for (int64_t kx = 0; kx < 3; ++kx) {
        const int64_t sy = y + ky - 1, sx = xx + kx - 1;
        if (sy < 0 || sy >= kH || sx < 0 || sx >= kW) continue;
        acc += double(x.data[((b * kH + sy) * kW + sx) * in + i]) * w.data[((o * in + i) * 3 + ky) * 3 + kx];
      }
    }
  }
  const double normed = (acc - bn.mean.data[o]) / std::sqrt(bn.var.data[o] + bn.eps) * bn.gamma.data[o] + bn.beta.data[o];
  return float(std::max(0.0, normed));
}

// 3x3, padding 1, ReLU: the shape of UperNet's and the FCN head's ConvModules.
Conv2d::Options PaddedRelu(bool winograd = true) {
  Conv2d::Options options;
  options.padding = 1;
  options.activation = "relu";
  options.winograd = winograd;
  return options;
}

FeatureMap RunConv(Precision precision, const Tensor& w, const BatchNorm* bn, Conv2d::Options options,
               const FeatureMap& x) {
  ScopedPrecision scoped(precision);
  const Conv2d conv(w, nullptr, bn, options);
  dnnl::stream stream(CpuEngine());
  return conv.Forward(stream, x);
}

bool HasWinograd() {  // oneDNN 2.6 has its f32 Winograd kernels for AVX-512 (avx512_core)
  return TierHasAvx512(EffectiveCpuTier());
}

// Runs the convolution with `want_algorithm` on 2 images and compares every output with the plain
// loop: within 1e-5 plus 1e-6 relative (direct summation in f32 and Winograd's transforms both
// round differently from the double reference).
void ExpectMatchesPlainLoop(int64_t in, int64_t out, Conv2d::Algorithm want_algorithm) {
  const FeatureMap x = Input(in);
  const Tensor w = Weight({out, in, 3, 3});
  const BatchNorm bn = Norm(out);
  const Conv2d conv(w, nullptr, &bn, PaddedRelu(want_algorithm == Conv2d::Algorithm::kWinograd));
  ASSERT_EQ(conv.algorithm(), want_algorithm);
  dnnl::stream stream(CpuEngine());
  const FeatureMap y = conv.Forward(stream, x);
  ASSERT_EQ(y.height, kH);
  ASSERT_EQ(y.width, kW);
  ASSERT_EQ(y.channels, out);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t r = 0; r < kH; ++r) {
      for (int64_t c = 0; c < kW; ++c) {
        for (int64_t o = 0; o < out; ++o) {
          const float want = Expected(x, w, bn, b, r, c, o);
          EXPECT_NEAR(y.data[((b * kH + r) * kW + c) * out + o], want, 1e-5f + 1e-6f * std::fabs(want));
        }
      }
    }
  }
}

TEST(Conv2dTest, F32NineMatmulsMatchPlainLoopWithBatchNormAndRelu) {
  ExpectMatchesPlainLoop(kIn, kOut, Conv2d::Algorithm::kNineMatmuls);
}

TEST(Conv2dTest, WinogradMatchesPlainLoopWithBatchNormAndRelu) {
  if (!HasWinograd()) GTEST_SKIP() << "no Winograd kernel without AVX-512";
  ExpectMatchesPlainLoop(kIn, kOut, Conv2d::Algorithm::kWinograd);
  ExpectMatchesPlainLoop(32, 48, Conv2d::Algorithm::kWinograd);  // whole 16-channel blocks
}

// Where oneDNN has Winograd (AVX-512) it serves every precision, in f32: reduced-precision models
// get the f32 result exactly.
TEST(Conv2dTest, WinogradServesEveryPrecisionInF32) {
  if (!HasWinograd()) GTEST_SKIP() << "no Winograd kernel without AVX-512";
  const FeatureMap x = Input();
  const Tensor w = Weight({kOut, kIn, 3, 3});
  const BatchNorm bn = Norm();
  const FeatureMap f32 = RunConv(Precision::kF32, w, &bn, PaddedRelu(), x);
  for (Precision p : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
    if (PrecisionUnsupportedReason(p)) continue;
    ScopedPrecision scoped(p);
    EXPECT_EQ(Conv2d(w, nullptr, &bn, PaddedRelu()).algorithm(), Conv2d::Algorithm::kWinograd);
    EXPECT_EQ(RunConv(p, w, &bn, PaddedRelu(), x).data, f32.data) << PrecisionName(p);
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

// A server computes on threads other than the one that built the primitive: oneDNN 2.6.3's
// F(4x4, 3x3) kernel (the one it picks at this size) crashed there with its own scratchpad.
TEST(Conv2dTest, WinogradRunsOnAnyThread) {
  if (!HasWinograd()) GTEST_SKIP() << "no Winograd kernel without AVX-512";
  FeatureMap x(1, 28, 28, 256);
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = std::sin(0.37f * i);
  const Tensor w = Weight({64, 256, 3, 3});
  const Conv2d conv(w, nullptr, nullptr, PaddedRelu());
  dnnl::stream stream(CpuEngine());
  const FeatureMap here = conv.Forward(stream, x);  // creates the primitive on this thread
  FeatureMap there;
  std::thread([&] {
    dnnl::stream other(CpuEngine());
    there = conv.Forward(other, x);
  }).join();
  EXPECT_EQ(there.data, here.data);
}

// Off Winograd (and for 1x1 convolutions, which never take it) reduced precisions convolve in bf16
// where the tier has native bf16; below it (int8 on AVX2 or AVX-512 without BF16) in f32, exactly.
TEST(Conv2dTest, ReducedPrecisionsRunInBf16CloseToF32) {
  const FeatureMap x = Input();
  const BatchNorm bn = Norm();
  const Tensor w3 = Weight({kOut, kIn, 3, 3}), w1 = Weight({kOut, kIn, 1, 1});
  const FeatureMap f32 = RunConv(Precision::kF32, w3, &bn, PaddedRelu(false), x);
  const FeatureMap f32_1x1 = RunConv(Precision::kF32, w1, &bn, {}, x);
  EXPECT_EQ(Conv2d(w1, nullptr, &bn, {}).algorithm(), Conv2d::Algorithm::kDirect);
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    if (PrecisionUnsupportedReason(p)) continue;
    SCOPED_TRACE(PrecisionName(p));
    const FeatureMap reduced = RunConv(p, w3, &bn, PaddedRelu(false), x), reduced_1x1 = RunConv(p, w1, &bn, {}, x);
    if (UsesBf16Operands(p)) {
      ExpectBf16Close(f32, reduced);
      ExpectBf16Close(f32_1x1, reduced_1x1);
    } else {
      EXPECT_EQ(reduced.data, f32.data);
      EXPECT_EQ(reduced_1x1.data, f32_1x1.data);
    }
  }
}

TEST(Conv2dTest, TransposedBf16CloseToF32) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
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
