// PreprocessEncodedImage against the preprocessing fixtures (Pillow + Transformers) and, bit for
// bit, against decoding whole then BeitImageProcessor.Preprocess, over JPEG sizes, subsamplings,
// every convolution filter, enlarging and shrinking, same-size axes and center crops inside and
// outside the resized image; errors as the whole decode gives them.
#include "model/image/encoded_image_preprocessing.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/image/image_processor_config.h"
#include "model/io/safetensors.h"
#include "model/model_error.h"
#include "tests/model/image/jpeg_test_encoder.h"

namespace beit {
namespace {

const std::string kDir = std::string(BEIT_TEST_DATA_DIR) + "/preprocess/";

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

PreprocessedImage Whole(const ImageProcessor& processor, const std::vector<uint8_t>& bytes,
                        const DecodeLimits& limits = {}) {
  const Image8 image = DecodeImage(bytes.data(), bytes.size(), limits);
  return {processor.Preprocess({&image}), image.height, image.width};
}

std::string Describe(const ImageProcessorConfig& c) {
  return "resize " + std::to_string(c.resize_width) + "x" + std::to_string(c.resize_height) + " filter " +
         std::to_string(static_cast<int>(c.resample)) +
         (c.do_center_crop ? " crop " + std::to_string(c.crop_width) + "x" + std::to_string(c.crop_height) : "");
}

void ExpectSameBits(const PreprocessedImage& got, const PreprocessedImage& want, const std::string& what) {
  EXPECT_EQ(got.original_height, want.original_height) << what;
  EXPECT_EQ(got.original_width, want.original_width) << what;
  ASSERT_EQ(got.pixels.shape, want.pixels.shape) << what;
  EXPECT_EQ(std::memcmp(got.pixels.ptr(), want.pixels.ptr(), want.pixels.data.size() * sizeof(float)), 0) << what;
}

TEST(EncodedImagePreprocessing, FixturesGiveTransformersPixelValues) {
  const nlohmann::json manifest = nlohmann::json::parse(std::ifstream(kDir + "manifest.json"));
  int compared = 0, one_pass = 0;
  for (const auto& c : manifest["cases"]) {
    const std::vector<uint8_t> bytes = ReadFile(kDir + c["image"].get<std::string>());
    SafetensorsFile expected = SafetensorsFile::Open(kDir + c["expected"].get<std::string>());
    const TensorInfo* rgb = expected.Find("decoded_rgb");
    for (const auto& cfg : c["configs"]) {
      const std::string name = cfg.get<std::string>();
      ImageProcessor processor(LoadImageProcessorConfig(kDir + "configs/" + name + ".json"));
      const PreprocessedImage got = PreprocessEncodedImage(processor, bytes.data(), bytes.size());
      one_pass += got.one_pass;
      const Tensor want = expected.ReadFloat(*expected.Find("pixel_values." + name));
      ASSERT_EQ(got.pixels.shape, want.shape) << c["image"] << " " << name;
      EXPECT_EQ(got.pixels.data, want.data) << c["image"] << " " << name;
      EXPECT_EQ(got.original_height, rgb->shape[0]);
      EXPECT_EQ(got.original_width, rgb->shape[1]);
      ++compared;
    }
  }
  EXPECT_GT(compared, 20);
  EXPECT_GT(one_pass, 5) << "the JPEG fixtures' configs without padding crops take the one pass";
}

TEST(EncodedImagePreprocessing, SameBitsAsDecodingWholeForEveryGeometry) {
  std::mt19937 rng(11);
  struct Size {
    int w, h;
  };
  const Size sizes[] = {{1, 1}, {5, 3}, {7, 300}, {97, 61}, {224, 224}, {300, 224}, {224, 170}, {640, 480}};
  const ResampleFilter filters[] = {ResampleFilter::kBilinear, ResampleFilter::kBicubic, ResampleFilter::kLanczos,
                                    ResampleFilter::kBox, ResampleFilter::kHamming};
  int cases = 0;
  for (const Size& s : sizes) {
    std::vector<uint8_t> px(static_cast<size_t>(s.w) * s.h * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7 / 3) % 256 ^ (rng() % 64));
    for (bool full_chroma : {false, true}) {
      const std::vector<uint8_t> jpg = testing_jpeg::EncodeJpeg(s.w, s.h, 3, JCS_RGB, px, full_chroma);
      for (ResampleFilter filter : filters) {
        ImageProcessorConfig config;
        config.resample = filter;
        // Shrinking and enlarging, a same-size axis, and crops inside (odd offsets too), equal
        // to and larger than the resized image.
        const int64_t geometries[][5] = {{224, 224, 0, 0, 0},   {256, 256, 1, 224, 224}, {224, 224, 1, 224, 224},
                                         {s.w, 224, 0, 0, 0},   {224, s.h, 1, 101, 37},  {33, 47, 1, 32, 46},
                                         {100, 80, 1, 120, 90}, {s.w, s.h, 1, 3, 1}};
        for (const auto& g : geometries) {
          config.resize_width = g[0];
          config.resize_height = g[1];
          config.do_center_crop = g[2] != 0;
          config.crop_width = g[3];
          config.crop_height = g[4];
          ImageProcessor processor(config);
          const std::string what = std::to_string(s.w) + "x" + std::to_string(s.h) +
                                   (full_chroma ? " 4:4:4 " : " 4:2:0 ") + Describe(config);
          const PreprocessedImage got = PreprocessEncodedImage(processor, jpg.data(), jpg.size());
          ExpectSameBits(got, Whole(processor, jpg), what);
          // Every geometry but the crop larger than the resize (it pads) takes the one pass.
          const bool pads = config.do_center_crop && (g[3] > g[0] || g[4] > g[1]);
          EXPECT_EQ(got.one_pass, !pads) << what;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 8 * 2 * 5 * 8);
}

TEST(EncodedImagePreprocessing, ImagesTheOnePassDoesNotTakeGiveTheSameBitsToo) {
  ImageProcessorConfig config;
  ImageProcessor processor(config);
  // Rotated by EXIF, PNG, greyscale JPEG, and NEAREST.
  for (const char* file : {"astronaut_96x64_exif6.jpg", "astronaut_320x240_rgb.png"}) {
    const std::vector<uint8_t> bytes = ReadFile(kDir + "images/" + file);
    const PreprocessedImage got = PreprocessEncodedImage(processor, bytes.data(), bytes.size());
    ExpectSameBits(got, Whole(processor, bytes), file);
    EXPECT_FALSE(got.one_pass) << file;
  }
  std::vector<uint8_t> grey(40 * 30);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i * 13);
  const std::vector<uint8_t> jpg = testing_jpeg::EncodeJpeg(40, 30, 1, JCS_GRAYSCALE, grey);
  const PreprocessedImage grey_result = PreprocessEncodedImage(processor, jpg.data(), jpg.size());
  ExpectSameBits(grey_result, Whole(processor, jpg), "grey");
  EXPECT_FALSE(grey_result.one_pass);
  std::vector<uint8_t> rgb(40 * 30 * 3, 90);
  const std::vector<uint8_t> colour = testing_jpeg::EncodeJpeg(40, 30, 3, JCS_RGB, rgb);
  config.resample = ResampleFilter::kNearest;
  ImageProcessor nearest(config);
  const PreprocessedImage nearest_result = PreprocessEncodedImage(nearest, colour.data(), colour.size());
  ExpectSameBits(nearest_result, Whole(nearest, colour), "nearest");
  EXPECT_FALSE(nearest_result.one_pass);
}

TEST(EncodedImagePreprocessing, ErrorsAreTheWholeDecodesErrors) {
  ImageProcessor processor{ImageProcessorConfig{}};
  const std::vector<uint8_t> jpg = ReadFile(kDir + "images/chelsea_q90_420.jpg");
  auto error = [&](const std::vector<uint8_t>& bytes, const DecodeLimits& limits, bool one_call) -> std::string {
    try {
      if (one_call) {
        PreprocessEncodedImage(processor, bytes.data(), bytes.size(), limits);
      } else {
        Whole(processor, bytes, limits);
      }
    } catch (const ImageDecodeError& e) {
      return e.what();
    }
    return "";
  };
  DecodeLimits tight;
  tight.max_width = 100;
  std::vector<std::pair<std::vector<uint8_t>, DecodeLimits>> bad = {
      {{}, {}}, {{'G', 'I', 'F'}, {}}, {jpg, tight}};
  for (size_t keep : {size_t{3}, size_t{200}, jpg.size() / 2, jpg.size() - 10}) {
    bad.push_back({std::vector<uint8_t>(jpg.begin(), jpg.begin() + keep), {}});
  }
  for (const auto& [bytes, limits] : bad) {
    const std::string ours = error(bytes, limits, true);
    EXPECT_NE(ours, "") << bytes.size();
    EXPECT_EQ(ours, error(bytes, limits, false)) << bytes.size();
  }
}

}  // namespace
}  // namespace beit
