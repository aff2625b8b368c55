// Fashion-MNIST test images for the tests that run the bundled models (tools/train/models), read
// from Debian's dataset-fashion-mnist (FASHION_MNIST_DIR overrides its folder).
//
// Contract: LoadFashionMnistTestSample(count, stride) returns test images 0, stride, 2*stride, ...
// (count of them, 28 * 28 gray bytes each) with their labels; it throws std::runtime_error naming
// the package when the files are missing or not the expected size. FashionMnistPng encodes one
// image as an 8-bit grayscale PNG, the form the tests send.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace beit::testing {

constexpr int kFashionMnistSide = 28;
// tools/train/fashion_mnist.py: a pixel is garment (label 1 + class) when its gray value >= 32.
constexpr int kFashionMnistForeground = 32;

struct FashionMnistSample {
  std::vector<std::vector<uint8_t>> images;  // 28 * 28 gray
  std::vector<int> labels;
};

FashionMnistSample LoadFashionMnistTestSample(int count, int stride);

std::string FashionMnistPng(const std::vector<uint8_t>& pixels);

}  // namespace beit::testing
