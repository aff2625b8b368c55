#include "tests/server/fashion_mnist_sample.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "model/image/png_encoder.h"

namespace beit::testing {
namespace {

constexpr int kTestImages = 10000;

std::string DatasetDir() {
  const char* dir = std::getenv("FASHION_MNIST_DIR");
  return dir ? dir : "/usr/share/datasets/fashion-mnist";
}

std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path + " (install dataset-fashion-mnist: scripts/install_deps.sh --dev)");
  std::string out;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof buffer)) > 0) out.append(buffer, n);
  gzclose(f);
  return out;
}

}  // namespace

FashionMnistSample LoadFashionMnistTestSample(int count, int stride) {
  constexpr int kPixels = kFashionMnistSide * kFashionMnistSide;
  const std::string images = Gunzip(DatasetDir() + "/t10k-images-idx3-ubyte.gz");
  const std::string labels = Gunzip(DatasetDir() + "/t10k-labels-idx1-ubyte.gz");
  if (images.size() != 16 + size_t{kTestImages} * kPixels || labels.size() != 8 + size_t{kTestImages}) {
    throw std::runtime_error("unexpected Fashion-MNIST test file sizes in " + DatasetDir());
  }
  if (count < 0 || stride < 1 || (count > 0 && (count - 1) * stride >= kTestImages)) {
    throw std::runtime_error("the Fashion-MNIST test set has 10,000 images");
  }
  FashionMnistSample s;
  for (int i = 0; i < count; ++i) {
    const int index = i * stride;
    const auto* p = reinterpret_cast<const uint8_t*>(images.data()) + 16 + index * kPixels;
    s.images.emplace_back(p, p + kPixels);
    s.labels.push_back(static_cast<uint8_t>(labels[8 + index]));
  }
  return s;
}

std::string FashionMnistPng(const std::vector<uint8_t>& pixels) {
  LabelMap gray({kFashionMnistSide, kFashionMnistSide});  // values 0..255: an 8-bit grayscale PNG
  std::copy(pixels.begin(), pixels.end(), gray.data.begin());
  return EncodeLabelMapPng(gray);
}

}  // namespace beit::testing
