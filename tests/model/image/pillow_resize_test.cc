// PillowResize against Pillow itself (Debian's python3-pil, run by pillow_resize_reference.py):
// every resampler, shrinking, enlarging and one axis at a time, 1 and 3 channels, byte for byte.
// The preprocessing goldens cover the bilinear and bicubic paths BEiT's configs use; this covers
// the rest of the contract in model/image/pillow_resize.h.
#include "model/image/pillow_resize.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace beit {
namespace {

struct Case {
  int64_t width, height, channels, out_width, out_height;
};

std::string Name(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kNearest: return "nearest";
    case ResampleFilter::kLanczos: return "lanczos";
    case ResampleFilter::kBilinear: return "bilinear";
    case ResampleFilter::kBicubic: return "bicubic";
    case ResampleFilter::kBox: return "box";
    case ResampleFilter::kHamming: return "hamming";
  }
  return "?";
}

class PillowResizeTest : public ::testing::TestWithParam<ResampleFilter> {};

TEST_P(PillowResizeTest, MatchesPillowByteForByte) {
  const ResampleFilter filter = GetParam();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("pillow_resize_test_" + Name(filter));
  std::filesystem::create_directories(dir);
  std::mt19937 rng(7);
  for (const Case& c : {Case{97, 61, 3, 40, 33}, Case{31, 23, 3, 80, 50}, Case{64, 48, 3, 64, 20},
                        Case{50, 40, 3, 17, 40}, Case{640, 480, 3, 256, 256}, Case{45, 33, 1, 20, 70}}) {
    Image8 src(c.width, c.height, c.channels);
    // Smooth gradients plus noise: both flat areas and every byte value near the clip limits.
    for (int64_t y = 0; y < c.height; ++y) {
      for (int64_t x = 0; x < c.width * c.channels; ++x) {
        src.row(y)[x] = static_cast<uint8_t>((x * 7 + y * 3) % 256 ^ (rng() % 32));
      }
    }
    const std::string in = (dir / "in.raw").string(), out = (dir / "out.raw").string();
    std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(src.pixels.data()), src.pixels.size());
    const std::string command = "/usr/bin/python3 " + std::string(BEIT_SOURCE_DIR) +
                                "/tests/model/image/pillow_resize_reference.py " + in + " " +
                                std::to_string(c.width) + " " + std::to_string(c.height) + " " +
                                std::to_string(c.channels) + " " + std::to_string(c.out_width) + " " +
                                std::to_string(c.out_height) + " " + std::to_string(static_cast<int>(filter)) + " " + out;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream reference_file(out, std::ios::binary);
    const std::vector<uint8_t> reference((std::istreambuf_iterator<char>(reference_file)),
                                         std::istreambuf_iterator<char>());
    const Image8 ours = PillowResize(src, c.out_width, c.out_height, filter);
    ASSERT_EQ(ours.width, c.out_width);
    ASSERT_EQ(ours.height, c.out_height);
    ASSERT_EQ(ours.pixels.size(), reference.size());
    size_t differing = 0;
    for (size_t i = 0; i < reference.size(); ++i) differing += ours.pixels[i] != reference[i];
    EXPECT_EQ(differing, 0u) << c.width << "x" << c.height << "x" << c.channels << " -> " << c.out_width << "x"
                             << c.out_height;
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(EveryFilter, PillowResizeTest,
                         ::testing::Values(ResampleFilter::kNearest, ResampleFilter::kLanczos,
                                           ResampleFilter::kBilinear, ResampleFilter::kBicubic,
                                           ResampleFilter::kBox, ResampleFilter::kHamming),
                         [](const auto& info) { return Name(info.param); });

}  // namespace
}  // namespace beit
