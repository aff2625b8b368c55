// Checkpoint and OpenCheckpoint (model/io/checkpoint.h) with the safetensors sources
// (model/io/safetensors_weights.h): the folder's format chosen in Transformers' order or forced,
// shards served through their index, and every broken index a clear error naming it. The other
// formats' readers have their own tests; every format's fixture runs end to end in golden_test.
#include "model/io/checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "model/model_error.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_weights.h"
#include "model/io/torch_checkpoint.h"

namespace beit {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest() : dir_(fs::temp_directory_path() / ("checkpoint_test_" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~CheckpointTest() override { fs::remove_all(dir_); }

  // A safetensors file holding `names`, each a [2] f32 tensor {value, value + 1}.
  void WriteShard(const std::string& file, const std::vector<std::string>& names, float value) {
    std::vector<std::vector<float>> data;
    std::vector<SafetensorsEntry> entries;
    for (size_t i = 0; i < names.size(); ++i) data.push_back({value + i, value + i + 1});
    for (size_t i = 0; i < names.size(); ++i) entries.push_back({names[i], DType::kF32, {2}, data[i].data()});
    WriteSafetensors((dir_ / file).string(), entries);
  }
  void WriteText(const std::string& file, const std::string& text) { std::ofstream(dir_ / file) << text; }
  std::string Dir() const { return dir_.string(); }
  std::string OpenError(WeightsFormat format = WeightsFormat::kAuto) {
    try {
      OpenCheckpoint(Dir(), format);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "";
  }

 private:
  fs::path dir_;
};

TEST_F(CheckpointTest, ShardsServeEveryTensorOfTheirIndex) {
  WriteShard("a.safetensors", {"beit.x", "beit.y"}, 1.f);
  WriteShard("b.safetensors", {"classifier.weight"}, 10.f);
  WriteText("model.safetensors.index.json",
            R"({"metadata": {}, "weight_map": {"beit.x": "a.safetensors", "beit.y": "a.safetensors",
                "classifier.weight": "b.safetensors"}})");
  Checkpoint ckpt = OpenCheckpoint(Dir());
  EXPECT_EQ(ckpt.TakeBackbone("y", {2}).data, (std::vector<float>{2.f, 3.f}));  // the "beit." prefix found
  EXPECT_EQ(ckpt.Take("classifier.weight", {2}).data, (std::vector<float>{10.f, 11.f}));
  EXPECT_EQ(ckpt.UnusedNames(), (std::vector<std::string>{"beit.x"}));
  EXPECT_NE(ckpt.path().find("model.safetensors.index.json"), std::string::npos);
}

TEST_F(CheckpointTest, OneFileIsPreferredToShardsAsTransformersDoes) {
  WriteShard("model.safetensors", {"data2vec_vision.x"}, 5.f);
  WriteShard("a.safetensors", {"beit.x"}, 1.f);
  WriteText("model.safetensors.index.json", R"({"weight_map": {"beit.x": "a.safetensors"}})");
  Checkpoint ckpt = OpenCheckpoint(Dir());
  EXPECT_EQ(ckpt.TakeBackbone("x", {2}).data, (std::vector<float>{5.f, 6.f}));  // Data2Vec-Vision's prefix
}

TEST_F(CheckpointTest, AFolderWithoutWeightsSaysWhatItLookedFor) {
  const std::string error = OpenError();
  EXPECT_NE(error.find("model.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("pytorch_model.bin"), std::string::npos) << error;
  EXPECT_NE(error.find("flax_model.msgpack"), std::string::npos) << error;
  WriteShard("model.safetensors", {"x"}, 1.f);
  const std::string forced = OpenError(WeightsFormat::kPytorch);
  EXPECT_NE(forced.find("pytorch_model.bin"), std::string::npos) << forced;
  EXPECT_EQ(forced.find("model.safetensors"), std::string::npos) << forced;  // only what was asked
}

// pytorch_model.bin.index.json: the shards are pytorch files, read through the same index logic.
TEST_F(CheckpointTest, PytorchShardsServeTheirTensors) {
  const std::string fixture = std::string(BEIT_TEST_DATA_DIR) + "/models/cls-dit-bin/pytorch_model.bin";
  fs::copy_file(fixture, Dir() + "/pytorch_model-00001-of-00001.bin");
  const auto whole = TorchCheckpointFile::Open(fixture);
  std::string map;
  for (const std::string& name : whole->Names()) {
    map += (map.empty() ? "" : ", ") + ("\"" + name + "\": \"pytorch_model-00001-of-00001.bin\"");
  }
  WriteText("pytorch_model.bin.index.json", "{\"weight_map\": {" + map + "}}");
  Checkpoint ckpt = OpenCheckpoint(Dir());
  EXPECT_NE(ckpt.path().find("pytorch_model.bin.index.json"), std::string::npos);
  const std::string name = "beit.embeddings.patch_embeddings.projection.weight";
  EXPECT_EQ(ckpt.Take(name, whole->ShapeOf(name)).data, whole->ReadFloat(name).data);
}

TEST_F(CheckpointTest, BrokenIndexesAreClearErrors) {
  WriteShard("a.safetensors", {"x"}, 1.f);
  for (const auto& [index, expected] : std::vector<std::pair<std::string, std::string>>{
           {R"({"weight_map": {"x": "../a.safetensors"}})", "index's own folder"},
           {R"({"weight_map": {"x": "missing.safetensors"}})", "missing.safetensors"},
           {R"({"weight_map": {"y": "a.safetensors"}})", "does not hold it"},
           {R"({"weight_map": {}})", "weight_map"},
           {R"({"weight_map": {"x": 3}})", "not a file name"},
           {R"({"metadata": {}})", "weight_map"},
           {R"(["x"])", "JSON object"}}) {
    WriteText("model.safetensors.index.json", index);
    const std::string error = OpenError();
    EXPECT_NE(error.find("model.safetensors.index.json"), std::string::npos) << index << ": " << error;
    EXPECT_NE(error.find(expected), std::string::npos) << index << ": " << error;
  }
}

TEST_F(CheckpointTest, TakeChecksShapesAndNamesTheFile) {
  WriteShard("model.safetensors", {"x"}, 1.f);
  Checkpoint ckpt = OpenCheckpoint(Dir(), WeightsFormat::kSafetensors);
  try {
    ckpt.Take("x", {3});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ckpt.Take("nope", {2}), ModelError);
}

TEST(WeightsFormat, NamesRoundTrip) {
  for (const char* name : {"auto", "safetensors", "pytorch", "flax"}) {
    WeightsFormat f;
    ASSERT_TRUE(ParseWeightsFormat(name, &f));
    EXPECT_STREQ(WeightsFormatName(f), name);
  }
  WeightsFormat f;
  EXPECT_FALSE(ParseWeightsFormat("onnx", &f));
}

}  // namespace
}  // namespace beit
