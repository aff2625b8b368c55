// The bundled Fashion-MNIST models (tools/train/models, trained by tools/train/train.py): the C++
// engine reproduces the PyTorch training code's outputs on the same test images within 1e-4
// (tests/data/trained, written by train.py's export step), and a grayscale PNG of an image goes
// through decode + BeitImageProcessor to exactly the pixel_values training fed the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"
#include "model/image/image_processor_config.h"
#include "model/image/png_encoder.h"
#include "model/model_runner.h"
#include "model/io/run_io.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

const std::string kTrainedModels = BEIT_TRAINED_MODELS_DIR;
const std::string kGolden = std::string(BEIT_TEST_DATA_DIR) + "/trained/";

struct TrainedModel {
  std::string name, architecture;
};

class TrainedModelTest : public ::testing::TestWithParam<TrainedModel> {
 protected:
  std::string model_dir() const { return kTrainedModels + "/" + GetParam().name; }
  std::string golden_dir() const { return kGolden + GetParam().name; }
};

TEST_P(TrainedModelTest, EngineMatchesPyTorchTrainingCode) {
  std::vector<std::string> warnings;
  auto runner = ModelRunner::Load(model_dir(), &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(runner->architecture(), GetParam().architecture);

  RunInputs inputs = ReadRunInputs(golden_dir() + "/inputs.safetensors");
  std::map<std::string, NamedOutput> ours;
  for (auto& o : runner->Run(inputs, RunOptions{})) ours[o.name] = std::move(o);

  const SafetensorsFile golden = SafetensorsFile::Open(golden_dir() + "/outputs.safetensors");
  int checked = 0;
  for (const TensorInfo& info : golden.tensors()) {
    auto it = ours.find(info.name);
    ASSERT_NE(it, ours.end()) << "engine gave no " << info.name;
    const Tensor expected = golden.ReadFloat(info);
    const Tensor& got = it->second.values;
    ASSERT_EQ(got.shape, expected.shape) << info.name;
    double max_err = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
      max_err = std::max(max_err, std::fabs(double(expected.data[i]) - got.data[i]));
    }
    EXPECT_LE(max_err, 1e-4) << info.name;
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST_P(TrainedModelTest, GrayscalePngPreprocessesToTrainingPixelValues) {
  const SafetensorsFile inputs = SafetensorsFile::Open(golden_dir() + "/inputs.safetensors");
  const TensorInfo* images_info = inputs.Find("images_u8");
  ASSERT_NE(images_info, nullptr);
  const std::vector<uint8_t> images = inputs.ReadBytes(*images_info);
  const Tensor expected = inputs.ReadFloat(*inputs.Find("pixel_values"));
  const int64_t n = images_info->shape[0], h = images_info->shape[1], w = images_info->shape[2];
  const ImageProcessor processor(LoadImageProcessorConfig(model_dir() + "/preprocessor_config.json"));

  for (int64_t i = 0; i < n; ++i) {
    LabelMap gray({h, w});  // an 8-bit map is written as an ordinary 8-bit grayscale PNG
    std::copy(images.begin() + i * h * w, images.begin() + (i + 1) * h * w, gray.data.begin());
    const std::string png = EncodeLabelMapPng(gray);
    const Image8 rgb = DecodeImage(reinterpret_cast<const uint8_t*>(png.data()), png.size());
    const Tensor px = processor.Preprocess({&rgb});
    ASSERT_EQ(px.numel() * n, expected.numel());
    for (int64_t k = 0; k < px.numel(); ++k) {
      ASSERT_EQ(px.data[k], expected.data[i * px.numel() + k]) << "image " << i << " value " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FashionMnist, TrainedModelTest,
                         ::testing::Values(TrainedModel{"fashion-mnist-cls", "BeitForImageClassification"},
                                           TrainedModel{"fashion-mnist-seg", "BeitForSemanticSegmentation"},
                                           TrainedModel{"fashion-mnist-mim", "BeitForMaskedImageModeling"}),
                         [](const auto& info) { return info.param.name.substr(std::string("fashion-mnist-").size()); });

}  // namespace
}  // namespace beit
