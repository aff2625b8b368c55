// bf16 matmuls (ModelRunner::Load(..., Precision::kBF16)) against f32 on the golden fixtures:
// close to Transformers' numbers (cosine >= 0.999 on logits / final hidden states, same top-1
// class), yet not identical (the bf16 path really runs).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "model/model_runner.h"
#include "model/safetensors.h"

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

class Bf16Test : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(Bf16Test, AgreesWithF32) {
  const auto& [fixture, output] = GetParam();
  const std::string dir = std::string(BEIT_TEST_DATA_DIR) + "/models/" + fixture;
  const SafetensorsFile inputs = SafetensorsFile::Open(dir + "/inputs.safetensors");
  RunInputs in;
  in.pixel_values = inputs.ReadFloat(*inputs.Find("pixel_values"));
  if (const TensorInfo* mask = inputs.Find("bool_masked_pos")) in.bool_masked_pos = inputs.ReadBytes(*mask);
  const auto f32 = ModelRunner::Load(dir, nullptr, Precision::kF32);
  const auto bf16 = ModelRunner::Load(dir, nullptr, Precision::kBF16);
  EXPECT_EQ(bf16->precision(), Precision::kBF16);
  const std::vector<NamedOutput> f32_outputs = f32->Run(in, {}), bf16_outputs = bf16->Run(in, {});
  const Tensor& a = Output(f32_outputs, output);
  const Tensor& b = Output(bf16_outputs, output);
  ASSERT_EQ(a.shape, b.shape);
  const Agreement agreement = Compare(a, b);
  std::printf("%s %s: cosine %.6f, max abs %.3g\n", fixture.c_str(), output.c_str(), agreement.cosine,
              agreement.max_abs);
  EXPECT_GE(agreement.cosine, 0.999);
  EXPECT_GT(agreement.max_abs, 0.0) << "bf16 gave the f32 numbers exactly: is it really running?";
  if (output == "logits" && a.shape.size() == 2) {  // classification: the same winner per image
    const int64_t labels = a.dim(1);
    for (int64_t i = 0; i < a.dim(0); ++i) {
      const float* ra = a.ptr() + i * labels;
      const float* rb = b.ptr() + i * labels;
      EXPECT_EQ(std::max_element(ra, ra + labels) - ra, std::max_element(rb, rb + labels) - rb);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bf16Test,
                         ::testing::Values(std::make_pair("cls-relpos-meanpool", "logits"),
                                           std::make_pair("cls-abspos-clstoken", "logits"),
                                           std::make_pair("base-224", "last_hidden_state"),
                                           std::make_pair("mim-shared-relpos", "logits"),
                                           std::make_pair("seg-upernet", "logits")));

}  // namespace
}  // namespace beit
