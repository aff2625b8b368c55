// Every case x config of the preprocessing fixtures (made with Pillow 9.4 and Transformers'
// BeitImageProcessor): decoded RGB bytes identical, pixel_values within 1e-6 (in practice
// bit-identical), segmentation labels identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"
#include "model/image/png_decoder.h"
#include "model/io/safetensors.h"

namespace beit {
namespace {

const std::string kDir = std::string(BEIT_TEST_DATA_DIR) + "/preprocess/";

nlohmann::json Manifest() { return nlohmann::json::parse(std::ifstream(kDir + "manifest.json")); }

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  const nlohmann::json manifest = Manifest();
  for (const auto& c : manifest["cases"]) names.push_back(c["image"].get<std::string>());
  return names;
}

class PreprocessGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  nlohmann::json Case() {
    const nlohmann::json manifest = Manifest();
    for (const auto& c : manifest["cases"]) {
      if (c["image"] == GetParam()) return c;
    }
    return {};
  }
};

Image8 ExpectedRgb(const SafetensorsFile& f) {
  const TensorInfo* t = f.Find("decoded_rgb");
  Image8 img(t->shape[1], t->shape[0], 3);
  img.pixels = f.ReadBytes(*t);
  return img;
}

TEST_P(PreprocessGoldenTest, DecodesLikePillow) {
  nlohmann::json c = Case();
  SafetensorsFile expected = SafetensorsFile::Open(kDir + c["expected"].get<std::string>());
  Image8 want = ExpectedRgb(expected);
  Image8 got = DecodeImageFile(kDir + GetParam());
  ASSERT_EQ(got.width, want.width);
  ASSERT_EQ(got.height, want.height);
  ASSERT_EQ(got.channels, 3);
  int64_t differing = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) differing += got.pixels[i] != want.pixels[i];
  EXPECT_EQ(differing, 0) << differing << " of " << got.pixels.size() << " bytes differ";
}

TEST_P(PreprocessGoldenTest, PixelValuesMatchBeitImageProcessor) {
  nlohmann::json c = Case();
  SafetensorsFile expected = SafetensorsFile::Open(kDir + c["expected"].get<std::string>());
  const Image8 rgb = ExpectedRgb(expected);  // isolates the processor from the decoder
  for (const auto& cfg : c["configs"]) {
    const std::string name = cfg.get<std::string>();
    ImageProcessor processor(LoadImageProcessorConfig(kDir + "configs/" + name + ".json"));
    Tensor got = processor.Preprocess({&rgb});
    const TensorInfo* info = expected.Find("pixel_values." + name);
    ASSERT_NE(info, nullptr) << name;
    Tensor want = expected.ReadFloat(*info);
    ASSERT_EQ(got.shape, want.shape) << name;
    int64_t differing = 0;
    float worst = 0.f;
    for (int64_t i = 0; i < got.numel(); ++i) {
      const float d = std::fabs(got.data[i] - want.data[i]);
      worst = std::max(worst, d);
      differing += d != 0.f;
    }
    EXPECT_LE(worst, 1e-6f) << name << ": " << differing << " values differ";
    EXPECT_EQ(differing, 0) << name << " (worst " << worst << ")";
  }
  if (c.contains("segmentation_map")) {
    std::vector<uint8_t> png = ReadFile(kDir + c["segmentation_map"].get<std::string>());
    Image8 map = DecodeLabelMapPng(png.data(), png.size(), {});
    std::vector<uint8_t> raw = expected.ReadBytes(*expected.Find("segmap"));
    ASSERT_EQ(map.pixels, raw);
    for (const auto& cfg : c["configs"]) {
      const std::string name = cfg.get<std::string>();
      ImageProcessor processor(LoadImageProcessorConfig(kDir + "configs/" + name + ".json"));
      TypedTensor<int64_t> got = processor.PreprocessLabels(map);
      const TensorInfo* info = expected.Find("labels." + name);
      ASSERT_NE(info, nullptr);
      ASSERT_EQ(got.shape, info->shape);
      std::vector<uint8_t> want = expected.ReadBytes(*info);
      EXPECT_EQ(std::memcmp(got.ptr(), want.data(), want.size()), 0) << name;
    }
  }
}

TEST_P(PreprocessGoldenTest, DecodeThenPreprocessEndToEnd) {
  nlohmann::json c = Case();
  SafetensorsFile expected = SafetensorsFile::Open(kDir + c["expected"].get<std::string>());
  const Image8 rgb = DecodeImageFile(kDir + GetParam());
  for (const auto& cfg : c["configs"]) {
    const std::string name = cfg.get<std::string>();
    ImageProcessor processor(LoadImageProcessorConfig(kDir + "configs/" + name + ".json"));
    Tensor got = processor.Preprocess({&rgb});
    Tensor want = expected.ReadFloat(*expected.Find("pixel_values." + name));
    ASSERT_EQ(got.shape, want.shape);
    EXPECT_EQ(got.data, want.data) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PreprocessGoldenTest, ::testing::ValuesIn(CaseNames()), [](const auto& info) {
  std::string n = info.param.substr(info.param.find('/') + 1);
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
});

// The normalized configs are what Transformers reports after loading each input config: our
// parser must arrive at the same settings from the raw input.
TEST(ImageProcessorConfigGolden, InputConfigsLoadAsTransformersLoadsThem) {
  const nlohmann::json manifest = Manifest();
  for (const auto& [name, entry] : manifest["configs"].items()) {
    ImageProcessorConfig ours = LoadImageProcessorConfig(kDir + entry["input"].get<std::string>());
    nlohmann::json norm = nlohmann::json::parse(std::ifstream(kDir + entry["as_loaded"].get<std::string>()));
    EXPECT_EQ(ours.do_resize, norm["do_resize"].get<bool>()) << name;
    EXPECT_EQ(ours.resize_height, norm["size"]["height"].get<int64_t>()) << name;
    EXPECT_EQ(ours.resize_width, norm["size"]["width"].get<int64_t>()) << name;
    EXPECT_EQ(static_cast<int>(ours.resample), norm["resample"].get<int>()) << name;
    EXPECT_EQ(ours.do_center_crop, norm["do_center_crop"].get<bool>()) << name;
    EXPECT_EQ(ours.crop_height, norm["crop_size"]["height"].get<int64_t>()) << name;
    EXPECT_EQ(ours.crop_width, norm["crop_size"]["width"].get<int64_t>()) << name;
    EXPECT_EQ(ours.do_rescale, norm["do_rescale"].get<bool>()) << name;
    EXPECT_DOUBLE_EQ(ours.rescale_factor, norm["rescale_factor"].get<double>()) << name;
    EXPECT_EQ(ours.do_normalize, norm["do_normalize"].get<bool>()) << name;
    for (int i = 0; i < 3; ++i) {
      EXPECT_FLOAT_EQ(ours.image_mean[i], norm["image_mean"][i].get<float>()) << name;
      EXPECT_FLOAT_EQ(ours.image_std[i], norm["image_std"][i].get<float>()) << name;
    }
    EXPECT_EQ(ours.do_reduce_labels, norm["do_reduce_labels"].get<bool>()) << name;
  }
}

}  // namespace
}  // namespace beit
