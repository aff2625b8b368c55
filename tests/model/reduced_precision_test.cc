// Reduced-precision Linear layers (ModelRunner::Load(..., Precision::kBF16 / kInt8)) against f32
// on the golden fixtures: close to Transformers' numbers (cosine >= 0.9999 for bf16, >= 0.9995
// for int8, on logits / final hidden states; same top-1 class), yet not identical (the path really
// runs); and int8 answers do not depend on the batch they ran in.
#include <gtest/gtest.h>

#include "tests/model/ops/cpu_tier_testing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "model/ops/dnnl_context.h"
#include "model/ops/linear.h"
#include "model/model_runner.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

struct Agreement {
  double cosine = 0, max_abs = 0;
};

Agreement Compare(const Tensor& a, const Tensor& b) {
  double dot = 0, na = 0, nb = 0, max_abs = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    dot += double(a.data[i]) * b.data[i];
    na += double(a.data[i]) * a.data[i];
    nb += double(b.data[i]) * b.data[i];
    max_abs = std::max(max_abs, std::fabs(double(a.data[i]) - b.data[i]));
  }
  return {dot / std::sqrt(na * nb), max_abs};
}

const Tensor& Output(const std::vector<NamedOutput>& outputs, const std::string& name) {
  for (const auto& o : outputs) {
    if (o.name == name) return o.values;
  }
  throw std::runtime_error("no output " + name);
}

struct Case {
  Precision precision;
  std::string fixture, output;
};

class ReducedPrecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReducedPrecisionTest, AgreesWithF32) {
  const Case& c = GetParam();
  BEIT_SKIP_UNLESS_TIER_RUNS(c.precision);
  const std::string& fixture = c.fixture;
  const std::string& output = c.output;
  const std::string dir = std::string(BEIT_TEST_DATA_DIR) + "/models/" + fixture;
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  RunInputs in;
  in.pixel_values = inputs.ReadFloat(*inputs.Find("pixel_values"));
  if (const TensorInfo* mask = inputs.Find("bool_masked_pos")) in.bool_masked_pos = inputs.ReadBytes(*mask);
  const auto f32 = ModelRunner::Load(dir, nullptr, Precision::kF32);
  const auto reduced = ModelRunner::Load(dir, nullptr, c.precision);
  EXPECT_EQ(reduced->precision(), c.precision);
  const std::vector<NamedOutput> f32_outputs = f32->Run(in, {}), reduced_outputs = reduced->Run(in, {});
  const Tensor& a = Output(f32_outputs, output);
  const Tensor& b = Output(reduced_outputs, output);
  ASSERT_EQ(a.shape, b.shape);
  const Agreement agreement = Compare(a, b);
  std::printf("%s %s %s: cosine %.6f, max abs %.3g\n", PrecisionName(c.precision), fixture.c_str(), output.c_str(),
              agreement.cosine, agreement.max_abs);
  EXPECT_GE(agreement.cosine, c.precision == Precision::kInt8 ? 0.9995 : 0.9999);  // measured >= 0.99987 / 0.999993
  EXPECT_GT(agreement.max_abs, 0.0) << "gave the f32 numbers exactly: is the reduced path really running?";
  if (output == "logits" && a.shape.size() == 2) {  // classification: the same winner per image
    const int64_t labels = a.dim(1);
    for (int64_t i = 0; i < a.dim(0); ++i) {
      const float* ra = a.ptr() + i * labels;
      const float* rb = b.ptr() + i * labels;
      EXPECT_EQ(std::max_element(ra, ra + labels) - ra, std::max_element(rb, rb + labels) - rb);
    }
  }
}

std::vector<Case> Cases() {
  const std::vector<std::pair<std::string, std::string>> outputs = {{"cls-relpos-meanpool", "logits"},
                                                                    {"cls-abspos-clstoken", "logits"},
                                                                    {"base-224", "last_hidden_state"},
                                                                    {"mim-shared-relpos", "logits"},
                                                                    {"seg-upernet", "logits"}};
  std::vector<Case> cases;
  for (Precision p : {Precision::kBF16, Precision::kInt8}) {
    for (const auto& [fixture, output] : outputs) cases.push_back({p, fixture, output});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReducedPrecisionTest, ::testing::ValuesIn(Cases()), [](const auto& info) {
  std::string n = std::string(PrecisionName(info.param.precision)) + "_" + info.param.fixture;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
});

// A row holding NaN or Inf must come out NaN (as f32 would give NaN/Inf), never as plausible
// numbers; the other rows are unaffected and match f32 closely.
TEST(Int8, NonFiniteRowsGiveNaNAndLeaveOtherRowsAlone) {
  const int64_t in = 16, out = 4;
  Tensor weight({out, in}), bias({out});
  for (int64_t i = 0; i < weight.numel(); ++i) weight.data[i] = std::sin(0.37f * i);
  for (int64_t o = 0; o < out; ++o) bias.data[o] = 0.1f * o;
  std::vector<float> x(3 * in);
  for (int64_t i = 0; i < 3 * in; ++i) x[i] = std::cos(0.11f * i);
  x[in + 5] = std::numeric_limits<float>::quiet_NaN();
  x[2 * in] = std::numeric_limits<float>::infinity();
  std::vector<float> y_int8(3 * out), y_f32(3 * out);
  dnnl::stream stream(CpuEngine());
  {
    ScopedPrecision int8(Precision::kInt8);
    Linear(weight, &bias, {}).Forward(stream, x.data(), 3, 1, y_int8.data());
  }
  Linear(weight, &bias, {}).Forward(stream, x.data(), 3, 1, y_f32.data());
  stream.wait();
  for (int64_t o = 0; o < out; ++o) {
    EXPECT_NEAR(y_int8[o], y_f32[o], 0.05) << o;
    EXPECT_TRUE(std::isnan(y_int8[out + o])) << o;
    EXPECT_TRUE(std::isnan(y_int8[2 * out + o])) << o;
  }
}

// Asking for attentions takes the kept-f32-probabilities path of the bf16 attention (and a head
// mask the masked one): the probabilities agree with f32's and the logits with the fast path's.
TEST(Bf16Attention, ReturnedProbabilitiesAndHeadMaskAgreeWithF32) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const std::string dir = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool";
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  RunInputs in;
  in.pixel_values = inputs.ReadFloat(*inputs.Find("pixel_values"));
  const auto f32 = ModelRunner::Load(dir, nullptr, Precision::kF32);
  const auto bf16 = ModelRunner::Load(dir, nullptr, Precision::kBF16);
  RunOptions with_attentions;
  with_attentions.attentions = true;
  const std::vector<NamedOutput> want = f32->Run(in, with_attentions), got = bf16->Run(in, with_attentions);
  const Agreement probs = Compare(Output(want, "attentions.0"), Output(got, "attentions.0"));
  EXPECT_GE(probs.cosine, 0.9999);
  EXPECT_GT(probs.max_abs, 0.0);
  const Tensor fast = Output(bf16->Run(in, {}), "logits");
  EXPECT_GE(Compare(Output(got, "logits"), fast).cosine, 0.99999);

  // Head 0 of every layer silenced: both precisions see the same change.
  const int64_t layers = 2, heads = 4;
  ASSERT_EQ(Output(want, "attentions.1").dim(1), heads);
  ASSERT_THROW(Output(want, "attentions." + std::to_string(layers)), std::runtime_error);
  Tensor head_mask({layers, heads}, std::vector<float>(layers * heads, 1.f));
  for (int64_t l = 0; l < layers; ++l) head_mask.data[l * heads] = 0.f;
  in.head_mask = head_mask;
  const Tensor masked_f32 = Output(f32->Run(in, {}), "logits"), masked_bf16 = Output(bf16->Run(in, {}), "logits");
  EXPECT_GE(Compare(masked_f32, masked_bf16).cosine, 0.9999);
  EXPECT_LT(Compare(masked_bf16, fast).cosine, 0.9999) << "the head mask changed nothing";
}

// Per-token quantisation: an image's int8 answer is the same alone or in a batch.
TEST(Int8, AnswersDoNotDependOnTheBatch) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kInt8);
  const std::string dir = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool";
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  RunInputs batch;
  batch.pixel_values = inputs.ReadFloat(*inputs.Find("pixel_values"));
  const int64_t per_image = batch.pixel_values.numel() / batch.pixel_values.dim(0);
  RunInputs single;
  Shape one = batch.pixel_values.shape;
  one[0] = 1;
  single.pixel_values = Tensor(one, std::vector<float>(batch.pixel_values.data.begin() + per_image,
                                                       batch.pixel_values.data.begin() + 2 * per_image));
  const auto int8 = ModelRunner::Load(dir, nullptr, Precision::kInt8);
  const Tensor both = Output(int8->Run(batch, {}), "logits");
  const Tensor alone = Output(int8->Run(single, {}), "logits");
  const int64_t labels = alone.dim(1);
  for (int64_t k = 0; k < labels; ++k) EXPECT_NEAR(alone.data[k], both.data[labels + k], 1e-5);
}

}  // namespace
}  // namespace beit
