// Loading and input errors of ModelRunner: each is a ModelError naming what is wrong, never a
// crash (these tests also run under AddressSanitizer in CI).
#include "model/model_runner.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <functional>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/model_error.h"
#include "model/io/run_io.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

namespace fs = std::filesystem;
const std::string kModels = std::string(BEIT_TEST_DATA_DIR) + "/models/";

class ModelRunnerTest : public ::testing::Test {
 protected:
  // A writable copy of a fixture folder.
  std::string CopyFixture(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("model_runner_test_" + std::to_string(::getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(kModels + name + "/" + f, dir / f);
    return dir.string();
  }

  // Rewrites dir/model.safetensors keeping tensors for which keep(name) holds, plus `extra`.
  void RewriteWeights(const std::string& dir, const std::function<bool(const std::string&)>& keep,
                      const std::string& extra_name = "") {
    SafetensorsFile in = SafetensorsFile::Open(dir + "/model.safetensors");
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<SafetensorsEntry> entries;
    for (const auto& t : in.tensors()) {
      if (!keep(t.name)) continue;
      buffers.push_back(in.ReadBytes(t));
    }
    size_t k = 0;
    for (const auto& t : in.tensors()) {
      if (!keep(t.name)) continue;
      entries.push_back({t.name, t.dtype, t.shape, buffers[k++].data()});
    }
    float extra = 1.f;
    if (!extra_name.empty()) entries.push_back({extra_name, DType::kF32, {1}, &extra});
    std::string tmp = dir + "/model.tmp";
    WriteSafetensors(tmp, entries);
    fs::rename(tmp, dir + "/model.safetensors");
  }

  void EditConfig(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
    edit(j);
    std::ofstream(dir + "/config.json") << j.dump();
  }

  std::string LoadError(const std::string& dir) {
    try {
      ModelRunner::Load(dir);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "";
  }

  std::string RunError(const std::string& fixture, const RunInputs& inputs, const RunOptions& options = {}) {
    auto runner = ModelRunner::Load(kModels + fixture);
    try {
      runner->Run(inputs, options);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(ModelRunnerTest, MissingTensorIsNamed) {
  std::string dir = CopyFixture("cls-relpos-meanpool");
  const std::string gone = "beit.encoder.layer.1.lambda_2";
  RewriteWeights(dir, [&](const std::string& n) { return n != gone; });
  std::string err = LoadError(dir);
  EXPECT_NE(err.find("missing tensor '" + gone + "'"), std::string::npos) << err;
}

TEST_F(ModelRunnerTest, ConfigWeightMismatchShowsBothShapes) {
  std::string dir = CopyFixture("cls-relpos-meanpool");
  EditConfig(dir, [](nlohmann::json& j) { j["intermediate_size"] = 100; });
  std::string err = LoadError(dir);
  EXPECT_NE(err.find("intermediate.dense.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("[100, 32]"), std::string::npos) << err;
}

TEST_F(ModelRunnerTest, UnexpectedTensorsAreWarnings) {
  std::string dir = CopyFixture("cls-relpos-meanpool");
  RewriteWeights(dir, [](const std::string&) { return true; }, "some.extra.weight");
  std::vector<std::string> warnings;
  auto runner = ModelRunner::Load(dir, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("some.extra.weight"), std::string::npos);
}

TEST_F(ModelRunnerTest, TruncatedWeightsFileIsAnError) {
  std::string dir = CopyFixture("cls-relpos-meanpool");
  fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") / 2);
  std::string err = LoadError(dir);
  EXPECT_NE(err.find("model.safetensors"), std::string::npos) << err;
}

TEST_F(ModelRunnerTest, UnknownArchitectureIsRefused) {
  std::string dir = CopyFixture("cls-relpos-meanpool");
  EditConfig(dir, [](nlohmann::json& j) { j["architectures"] = {"BeitForObjectDetection"}; });
  EXPECT_NE(LoadError(dir).find("BeitForObjectDetection"), std::string::npos);
}

TEST_F(ModelRunnerTest, MissingFolderIsAnError) {
  EXPECT_NE(LoadError("/nonexistent-model").find("/nonexistent-model/config.json"), std::string::npos);
}

TEST_F(ModelRunnerTest, SegmentationOutIndicesMustPickThreeOrFourFeatures) {
  std::string dir = CopyFixture("seg-upernet");
  EditConfig(dir, [](nlohmann::json& j) { j["out_indices"] = {3, 4}; });
  EXPECT_NE(LoadError(dir).find("out_indices"), std::string::npos);
}

TEST_F(ModelRunnerTest, F16CheckpointLoadsAndStaysClose) {
  // Hub checkpoints are often stored in half precision; convert a fixture and compare logits.
  std::string dir = CopyFixture("cls-relpos-meanpool");
  SafetensorsFile in = SafetensorsFile::Open(kModels + "cls-relpos-meanpool/model.safetensors");
  std::vector<std::vector<uint16_t>> halves;
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : in.tensors()) {
    Tensor f = in.ReadFloat(t);
    std::vector<uint16_t> h(f.data.size());
    for (size_t i = 0; i < h.size(); ++i) {  // float -> bf16 by truncation: exact to read back
      uint32_t bits;
      std::memcpy(&bits, &f.data[i], 4);
      h[i] = static_cast<uint16_t>(bits >> 16);
    }
    halves.push_back(std::move(h));
  }
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    entries.push_back({in.tensors()[i].name, DType::kBF16, in.tensors()[i].shape, halves[i].data()});
  }
  WriteSafetensors(dir + "/model.safetensors", entries);
  auto runner = ModelRunner::Load(dir);
  RunInputs inputs = ReadRunInputs(kModels + "cls-relpos-meanpool/inputs.safetensors");
  auto out = runner->Run(inputs, {});
  auto ref = ModelRunner::Load(kModels + "cls-relpos-meanpool")->Run(inputs, {});
  ASSERT_EQ(out[0].name, "logits");
  for (size_t i = 0; i < out[0].values.data.size(); ++i) EXPECT_NEAR(out[0].values.data[i], ref[0].values.data[i], 0.1);
}

TEST_F(ModelRunnerTest, WrongChannelCount) {
  RunInputs in;
  in.pixel_values = Tensor({1, 4, 32, 32});
  EXPECT_NE(RunError("cls-relpos-meanpool", in).find("[batch, 3, height, width]"), std::string::npos);
}

TEST_F(ModelRunnerTest, ImageSmallerThanAPatch) {
  RunInputs in;
  in.pixel_values = Tensor({1, 3, 4, 32});
  EXPECT_NE(RunError("cls-relpos-meanpool", in).find("smaller than one"), std::string::npos);
}

TEST_F(ModelRunnerTest, MaskOnlyForMaskedImageModeling) {
  RunInputs in;
  in.pixel_values = Tensor({1, 3, 32, 32});
  in.bool_masked_pos = std::vector<uint8_t>(16, 1);
  EXPECT_NE(RunError("cls-relpos-meanpool", in).find("bool_masked_pos"), std::string::npos);
  in.bool_masked_pos = std::vector<uint8_t>(3, 1);  // MIM fixture has 64 patches
  EXPECT_NE(RunError("mim-shared-relpos", in).find("[1, 64]"), std::string::npos);
}

TEST_F(ModelRunnerTest, HeadMaskShape) {
  RunInputs in;
  in.pixel_values = Tensor({1, 3, 32, 32});
  in.head_mask = Tensor({3});
  EXPECT_NE(RunError("model-headmask-v4", in).find("head_mask"), std::string::npos);
}

TEST_F(ModelRunnerTest, HeadMaskOfOnesChangesNothingAndZerosSilenceAttention) {
  auto runner = ModelRunner::Load(kModels + "model-headmask-v4");
  RunInputs in = ReadRunInputs(kModels + "model-headmask-v4/inputs.safetensors");
  in.head_mask = Tensor({4}, std::vector<float>(4, 1.f));
  RunOptions opts;
  opts.attentions = true;
  auto ones = runner->Run(in, opts);
  in.head_mask.reset();
  auto none = runner->Run(in, opts);
  EXPECT_EQ(ones[0].values.data, none[0].values.data);
  in.head_mask = Tensor({4}, std::vector<float>(4, 0.f));
  for (const auto& o : runner->Run(in, opts)) {
    if (o.name.rfind("attentions.", 0) != 0) continue;
    for (float v : o.values.data) ASSERT_EQ(v, 0.f);
  }
}

TEST_F(ModelRunnerTest, SegmentationNeedsTheCheckpointImageSize) {
  RunInputs in;
  in.pixel_values = Tensor({1, 3, 48, 48});
  EXPECT_NE(RunError("seg-upernet", in).find("64x64"), std::string::npos);
}

TEST_F(ModelRunnerTest, OneTargetSizePerImage) {
  RunInputs in;
  in.pixel_values = Tensor({2, 3, 64, 64});
  RunOptions opts;
  opts.target_sizes = {{10, 10}};
  EXPECT_NE(RunError("seg-upernet", in, opts).find("one per image"), std::string::npos);
}

}  // namespace
}  // namespace beit
