#include "model/image/image_decoder.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "model/image/jpeg_decoder.h"
#include "model/image/png_decoder.h"

namespace beit {

ImageFormat SniffImageFormat(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

void CheckDimensions(int64_t width, int64_t height, const DecodeLimits& limits, const char* format) {
  if (width < 1 || height < 1) throw ImageDecodeError(std::string(format) + " declares an empty image");
  if (width > limits.max_width || height > limits.max_height || width * height > limits.max_pixels) {
    throw ImageDecodeError(std::string(format) + " of " + std::to_string(width) + "x" + std::to_string(height) +
                           " exceeds the limits (" + std::to_string(limits.max_width) + "x" +
                           std::to_string(limits.max_height) + ", " + std::to_string(limits.max_pixels) +
                           " pixels)");
  }
}

Image8 DecodeImage(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (size == 0) throw ImageDecodeError("empty image data");
  switch (SniffImageFormat(data, size)) {
    case ImageFormat::kJpeg: return DecodeJpeg(data, size, limits);
    case ImageFormat::kPng: return DecodePng(data, size, limits);
    case ImageFormat::kUnknown: break;
  }
  throw ImageDecodeError("unrecognised image format (expected JPEG or PNG bytes)");
}

Image8 DecodeImageFile(const std::string& path, const DecodeLimits& limits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageDecodeError(path + ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return DecodeImage(bytes.data(), bytes.size(), limits);
  } catch (const ImageDecodeError& e) {
    throw ImageDecodeError(path + ": " + e.what());
  }
}

}  // namespace beit
