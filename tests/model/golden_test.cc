// Golden tests: every fixture produced by Transformers' own BEiT code (tests/data/models/*) must
// be reproduced — float outputs within 1e-4 * max(1, max|golden|), segmentation maps exactly
// wherever the reference top-1/top-2 margin is not a near-tie (< 1e-4).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "model/model_runner.h"
#include "model/io/run_io.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kModels)) {
    if (std::filesystem::exists(e.path() / "fixture.json")) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesTransformers) {
  const std::string dir = kModels + GetParam();
  nlohmann::json fixture = nlohmann::json::parse(std::ifstream(dir + "/fixture.json"));

  std::vector<std::string> warnings;
  auto runner = ModelRunner::Load(dir, &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(runner->architecture(), fixture["hf_class"].get<std::string>());

  RunOptions options;
  options.hidden_states = true;
  options.attentions = true;
  options.debug = true;
  if (fixture.contains("post_process")) {
    for (const auto& s : fixture["post_process"]["target_sizes"]) options.target_sizes.emplace_back(s[0], s[1]);
  }
  RunInputs inputs = ReadRunInputs(dir + "/inputs.safetensors");
  std::map<std::string, NamedOutput> ours;
  for (auto& o : runner->Run(inputs, options)) ours[o.name] = std::move(o);

  SafetensorsFile golden = SafetensorsFile::Open(dir + "/outputs.safetensors");
  int checked = 0;
  for (const TensorInfo& info : golden.tensors()) {
    const std::string& name = info.name;
    if (name.rfind("debug.semantic_margin.", 0) == 0) continue;  // tolerance data, not an output
    auto it = ours.find(name);
    ASSERT_NE(it, ours.end()) << "no output named " << name;
    const NamedOutput& o = it->second;
    if (info.dtype == DType::kI32) {
      ASSERT_TRUE(o.is_label_map) << name;
      ASSERT_EQ(o.labels.shape, info.shape) << name;
      std::vector<uint8_t> raw = golden.ReadBytes(info);
      const int32_t* expected = reinterpret_cast<const int32_t*>(raw.data());
      const TensorInfo* margin_info = nullptr;
      if (name.rfind("semantic_map.", 0) == 0) {
        margin_info = golden.Find("debug.semantic_margin." + name.substr(std::string("semantic_map.").size()));
      }
      Tensor margin = margin_info ? golden.ReadFloat(*margin_info) : Tensor();
      int64_t mismatches = 0, compared = 0;
      for (int64_t i = 0; i < o.labels.numel(); ++i) {
        if (margin_info && margin.data[i] < 1e-4f) continue;
        ++compared;
        mismatches += o.labels.data[i] != expected[i];
      }
      EXPECT_EQ(mismatches, 0) << name << ": " << mismatches << " of " << compared << " pixels differ";
      EXPECT_GT(compared, o.labels.numel() / 2) << name;
    } else {
      Tensor expected = golden.ReadFloat(info);
      ASSERT_FALSE(o.is_label_map) << name;
      ASSERT_EQ(o.values.shape, expected.shape) << name;
      double max_abs = 0, max_err = 0;
      for (int64_t i = 0; i < expected.numel(); ++i) {
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(expected.data[i])));
        max_err = std::max(max_err, std::fabs(static_cast<double>(expected.data[i]) - o.values.data[i]));
      }
      EXPECT_LE(max_err, 1e-4 * std::max(1.0, max_abs)) << name << " max abs error " << max_err;
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);  // the model's output, and the hidden states of every fixture
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(FixtureNames()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// Batched results must not depend on the batch: image 1 alone equals image 1 of the batch.
TEST(BatchIndependence, SingleImageEqualsItsRowInTheBatch) {
  auto runner = ModelRunner::Load(kModels + "cls-relpos-meanpool");
  RunInputs batch = ReadRunInputs(kModels + "cls-relpos-meanpool/inputs.safetensors");
  RunInputs single;
  const int64_t per_image = batch.pixel_values.numel() / batch.pixel_values.dim(0);
  single.pixel_values = Tensor({1, batch.pixel_values.dim(1), batch.pixel_values.dim(2), batch.pixel_values.dim(3)},
                               std::vector<float>(batch.pixel_values.data.begin() + per_image,
                                                  batch.pixel_values.data.end()));
  auto both = runner->Run(batch, {});
  auto one = runner->Run(single, {});
  const Tensor& lb = both[0].values;
  const Tensor& l1 = one[0].values;
  ASSERT_EQ(both[0].name, "logits");
  const int64_t K = l1.dim(1);
  for (int64_t k = 0; k < K; ++k) EXPECT_NEAR(l1.data[k], lb.data[K + k], 1e-5);
}

}  // namespace
}  // namespace beit
