// Linear's typed inputs and outputs: f32 against a plain loop; a bf16 Linear given bf16 inputs
// equals one given the same values in f32; bf16 outputs are the f32 outputs rounded; int8 writes
// bf16 on both of its epilogue paths; unsupported combinations are errors, not wrong numbers.
#include "model/ops/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/model_error.h"
#include "tests/model/ops/cpu_tier_testing.h"

namespace beit {
namespace {

using dt = dnnl::memory::data_type;

constexpr int64_t kRows = 5, kIn = 24, kOut = 12;

class LinearTest : public ::testing::Test {
 protected:
  LinearTest() : weight_({kOut, kIn}), bias_({kOut}), x_(kRows * kIn) {
    for (int64_t i = 0; i < weight_.numel(); ++i) weight_.data[i] = 0.2f * std::sin(0.37f * i);
    for (int64_t o = 0; o < kOut; ++o) bias_.data[o] = 0.1f * o - 0.5f;
    for (int64_t i = 0; i < kRows * kIn; ++i) x_[i] = std::cos(0.11f * i);
  }

  Linear Make(Precision precision, Linear::Options options = {}) {
    ScopedPrecision scoped(precision);
    return Linear(weight_, &bias_, options);
  }

  std::vector<float> RunF32(const Linear& linear) {
    std::vector<float> y(kRows * kOut);
    linear.Forward(stream_, x_.data(), kRows, kRows, y.data());
    stream_.wait();
    return y;
  }

  std::vector<float> RunBf16Out(const Linear& linear) {
    std::vector<uint16_t> y(kRows * kOut);
    linear.Forward(stream_, F32View(x_.data()), kRows, kRows, ActivationView{y.data(), dt::bf16});
    stream_.wait();
    std::vector<float> out(y.size());
    for (size_t i = 0; i < y.size(); ++i) out[i] = Bf16ToFloat(y[i]);
    return out;
  }

  // |bf16 - f32| within half a bf16 ulp of the f32 value.
  static void ExpectRounded(const std::vector<float>& bf16, const std::vector<float>& f32) {
    for (size_t i = 0; i < f32.size(); ++i) {
      EXPECT_NEAR(bf16[i], f32[i], std::fabs(f32[i]) * 0x1p-8f + 1e-7f) << i;
    }
  }

  Tensor weight_, bias_;
  std::vector<float> x_;
  dnnl::stream stream_{CpuEngine()};
};

TEST_F(LinearTest, F32MatchesPlainLoop) {
  const std::vector<float> y = RunF32(Make(Precision::kF32));
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t o = 0; o < kOut; ++o) {
      double want = bias_.data[o];
      for (int64_t i = 0; i < kIn; ++i) want += double(x_[r * kIn + i]) * weight_.data[o * kIn + i];
      EXPECT_NEAR(y[r * kOut + o], want, 1e-5);
    }
  }
}

TEST_F(LinearTest, Bf16TakesBf16InputsAsIs) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const Linear linear = Make(Precision::kBF16);
  std::vector<uint16_t> x_bf16(x_.size());
  RoundToBf16(x_.data(), int64_t(x_.size()), x_bf16.data());
  std::vector<float> y_from_bf16(kRows * kOut);
  linear.Forward(stream_, ConstActivationView{x_bf16.data(), dt::bf16}, kRows, kRows, F32View(y_from_bf16.data()));
  stream_.wait();
  EXPECT_EQ(y_from_bf16, RunF32(linear));  // f32 inputs are rounded the same way first
}

TEST_F(LinearTest, Bf16OutputIsTheF32OutputRounded) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const Linear linear = Make(Precision::kBF16, {"gelu", false});
  ExpectRounded(RunBf16Out(linear), RunF32(linear));
}

TEST_F(LinearTest, Int8WritesBf16WithAndWithoutActivation) {
  for (const char* activation : {"linear", "gelu"}) {
    SCOPED_TRACE(activation);
    const Linear linear = Make(Precision::kInt8, {activation, false});
    ExpectRounded(RunBf16Out(linear), RunF32(linear));
  }
}

// The int8 epilogue (per-token scale, bias, activation, residual sum) is one computation whether
// oneDNN applies it inside the matmul (kernel policy int8_fused_epilogue, where its kernel takes
// it: the AMX tier's table, and BEIT_KERNEL_POLICY=amx in CI) or in a second pass: the activation
// is the activation of the plain output, the residual sum adds exactly what is there.
TEST_F(LinearTest, Int8EpilogueAppliesActivationAndResidualToThePlainOutput) {
  const std::vector<float> plain = RunF32(Make(Precision::kInt8));
  const std::vector<float> gelu = RunF32(Make(Precision::kInt8, {"gelu", false}));
  for (size_t i = 0; i < plain.size(); ++i) {
    const double v = plain[i], want = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    EXPECT_NEAR(gelu[i], want, 1e-5 * (1 + std::fabs(want))) << i;
  }
  const Linear accumulating = Make(Precision::kInt8, {"linear", /*accumulate=*/true});
  std::vector<float> y(kRows * kOut);
  for (size_t i = 0; i < y.size(); ++i) y[i] = 0.25f * float(i % 9) - 1.f;
  const std::vector<float> before = y;
  accumulating.Forward(stream_, x_.data(), kRows, kRows, y.data());
  stream_.wait();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], before[i] + plain[i], 1e-6f) << i;
  // And the plain output is the quantised product: within int8's error of the f32 one.
  const std::vector<float> f32 = RunF32(Make(Precision::kF32));
  for (size_t i = 0; i < f32.size(); ++i) EXPECT_NEAR(plain[i], f32[i], 0.03f) << i;
}

// int8 runs more than 512 rows in slices: every row's answer is still the one it gets alone.
TEST_F(LinearTest, Int8RowsAreIndependentAcrossSlices) {
  const int64_t rows = 1100;
  std::vector<float> x(rows * kIn), together(rows * kOut), alone(kOut);
  for (int64_t i = 0; i < rows * kIn; ++i) x[i] = std::sin(0.013f * i) * (1 + i % 7);
  const Linear linear = Make(Precision::kInt8, {"gelu", false});
  linear.Forward(stream_, x.data(), rows, 1, together.data());
  for (int64_t r = 0; r < rows; r += 61) {
    linear.Forward(stream_, x.data() + r * kIn, 1, 1, alone.data());
    stream_.wait();
    for (int64_t o = 0; o < kOut; ++o) ASSERT_EQ(together[r * kOut + o], alone[o]) << r << " " << o;
  }
}

// An image's rows (a group) against the same rows computed alone: the same bits where
// BatchedAnswersAreBitIdentical (int8 everywhere; f32 and bf16 at AVX-512 tiers, one matmul per
// group), and within kAvx2BatchTolerance of the largest output otherwise (f32 at AVX2 tiers, where
// oneDNN's GEMM blocks the reduction by the number of rows: 197 and 985 rows of this shape round
// differently). BEiT-base's widths.
constexpr double kAvx2BatchTolerance = 1e-6;  // relative to max |y|; measured 1.7e-7

TEST_F(LinearTest, AGroupsRowsDoNotDependOnTheBatch) {
  const int64_t in = 768, out = 768, group = 197, groups = 5;
  Tensor weight({out, in}), bias({out});
  for (int64_t i = 0; i < weight.numel(); ++i) weight.data[i] = 0.05f * std::sin(0.37f * i + 0.2f);
  for (int64_t o = 0; o < out; ++o) bias.data[o] = 0.01f * o;
  std::vector<float> x(groups * group * in);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.011f * i) * (1 + i % 5);
  for (Precision precision : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
    if (PrecisionUnsupportedReason(precision)) continue;
    SCOPED_TRACE(PrecisionName(precision));
    ScopedPrecision scoped(precision);
    const Linear linear(weight, &bias, {"gelu", false});
    std::vector<float> together(groups * group * out), alone(group * out);
    linear.Forward(stream_, x.data(), groups * group, group, together.data());
    double worst = 0, largest = 0;
    for (int64_t g = 0; g < groups; ++g) {
      linear.Forward(stream_, x.data() + g * group * in, group, group, alone.data());
      stream_.wait();
      for (int64_t i = 0; i < group * out; ++i) {
        worst = std::max(worst, std::fabs(double(together[g * group * out + i]) - alone[i]));
        largest = std::max(largest, std::fabs(double(alone[i])));
      }
    }
    std::printf("%s at tier %s: largest batch-vs-alone difference %.3g of max |y| %.3g\n", PrecisionName(precision),
                CpuTierName(EffectiveCpuTier()), worst, largest);
    if (BatchedAnswersAreBitIdentical(precision)) {
      EXPECT_EQ(worst, 0.0);
    } else {
      EXPECT_LE(worst, kAvx2BatchTolerance * largest);
    }
  }
}

TEST_F(LinearTest, RowsMustBeWholeGroups) {
  std::vector<float> y(kRows * kOut);
  EXPECT_THROW(Make(Precision::kF32).Forward(stream_, x_.data(), kRows, 2, y.data()), ModelError);
  EXPECT_THROW(Make(Precision::kF32).Forward(stream_, x_.data(), kRows, 0, y.data()), ModelError);
}

TEST_F(LinearTest, UnsupportedCombinationsAreErrors) {
  std::vector<uint16_t> x_bf16(x_.size()), y_bf16(kRows * kOut);
  std::vector<float> y(kRows * kOut);
  const ConstActivationView bf16_in{x_bf16.data(), dt::bf16};
  EXPECT_THROW(Make(Precision::kF32).Forward(stream_, bf16_in, kRows, kRows, F32View(y.data())), ModelError);
  EXPECT_THROW(Make(Precision::kInt8).Forward(stream_, bf16_in, kRows, kRows, F32View(y.data())), ModelError);
  EXPECT_THROW(Make(Precision::kF32).Forward(stream_, F32View(x_.data()), kRows, kRows, ActivationView{y_bf16.data(), dt::bf16}),
               ModelError);
  EXPECT_THROW(Make(Precision::kInt8, {"linear", true})
                   .Forward(stream_, F32View(x_.data()), kRows, kRows, ActivationView{y_bf16.data(), dt::bf16}),
               ModelError);
}

}  // namespace
}  // namespace beit
