// The op profile (model/ops/op_profile.h): nested scopes charge exclusive time, and a real forward
// of a small model lands in the classes its ops belong to, adding up to no more than its wall time.
#include "model/ops/op_profile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "model/model_runner.h"
#include "tests/model/ops/cpu_tier_testing.h"

namespace beit {
namespace {

double Sum(const OpProfile& p) {
  double total = 0;
  for (double s : p) total += s;
  return total;
}

double Of(const OpProfile& p, OpClass op) { return p[static_cast<int>(op)]; }

TEST(OpProfile, OffByDefaultAndChargesNothing) {
  TakeOpProfile();
  ASSERT_FALSE(OpProfiling());
  { ScopedOpTimer timer(OpClass::kAttention); }
  EXPECT_EQ(Sum(TakeOpProfile()), 0.0);
}

TEST(OpProfile, NestedScopesChargeExclusiveTime) {
  TakeOpProfile();
  SetOpProfiling(true);
  const auto start = std::chrono::steady_clock::now();
  {
    ScopedOpTimer outer(OpClass::kEmbeddingsAndHeads);
    ScopedOpTimer inner(OpClass::kLinearMatmul);
    volatile double x = 0;
    for (int i = 0; i < 2000000; ++i) x = x + 1;  // work inside the inner scope only
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SetOpProfiling(false);
  const OpProfile p = TakeOpProfile();
  EXPECT_GT(Of(p, OpClass::kLinearMatmul), 0.0);
  EXPECT_LT(Of(p, OpClass::kEmbeddingsAndHeads), Of(p, OpClass::kLinearMatmul));
  EXPECT_LE(Sum(p), wall);
  EXPECT_EQ(Sum(TakeOpProfile()), 0.0) << "taking the profile resets it";
}

class OpProfileForward : public ::testing::TestWithParam<Precision> {};

TEST_P(OpProfileForward, EveryOpClassOfTheEncoderIsSeen) {
  const Precision precision = GetParam();
  BEIT_SKIP_UNLESS_TIER_RUNS(precision);
  auto model = ModelRunner::Load(std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool", nullptr, precision);
  RunInputs inputs;
  const BeitConfig& c = model->config();
  inputs.pixel_values = Tensor({2, c.num_channels, c.image_height, c.image_width});
  for (size_t i = 0; i < inputs.pixel_values.data.size(); ++i) inputs.pixel_values.data[i] = float(i % 7) * 0.1f;
  model->Run(inputs, {});  // primitives created outside the profile
  TakeOpProfile();
  SetOpProfiling(true);
  const auto start = std::chrono::steady_clock::now();
  model->Run(inputs, {});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SetOpProfiling(false);
  const OpProfile p = TakeOpProfile();
  for (OpClass op : {OpClass::kLinearMatmul, OpClass::kAttention, OpClass::kLayerNorm, OpClass::kEmbeddingsAndHeads}) {
    EXPECT_GT(Of(p, op), 0.0) << OpClassName(op) << " at " << PrecisionName(precision);
  }
  if (precision != Precision::kF32) {
    EXPECT_GT(Of(p, OpClass::kQuantize), 0.0) << "inputs rounded to s8 or bf16 before the matmuls";
  }
  EXPECT_LE(Sum(p), wall);
}

INSTANTIATE_TEST_SUITE_P(Precisions, OpProfileForward,
                         ::testing::Values(Precision::kF32, Precision::kBF16, Precision::kInt8),
                         [](const auto& info) { return std::string(PrecisionName(info.param)); });

}  // namespace
}  // namespace beit
