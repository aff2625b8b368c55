// Decoding encoded images (JPEG, PNG) into RGB exactly as Transformers' load_image does with
// Pillow: PIL.Image.open -> ImageOps.exif_transpose -> convert("RGB").
//
// Contract:
// - DecodeImage sniffs the format from the magic bytes (not a file name) and returns an RGB
//   Image8 [H, W, 3].
// - JPEG: libjpeg-turbo with Pillow's settings (ISLOW integer IDCT, fancy upsampling), grayscale
//   replicated, 4-component files treated as Adobe-inverted CMYK and converted with Pillow's
//   cmyk2rgb. PNG (libspng): RGB; RGBA and LA drop alpha (no compositing); palette looked up;
//   8-bit and lower grey scaled to 0..255; 16-bit grey clipped to 0..255 (Pillow's "I" mode);
//   16-bit colour keeps the high byte; interlaced images supported.
// - EXIF orientation (JPEG APP1, PNG eXIf) is applied as exif_transpose does.
// - DecodeLimits are checked from the header, before any pixel buffer is allocated; a hostile
//   65535 x 65535 header is refused without allocating. Truncated or corrupt data, bad CRCs and
//   unknown formats are ImageDecodeErrors with a message a person can act on; nothing crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "model/image/image.h"

namespace beit {

class ImageDecodeError : public std::runtime_error {
 public:
  explicit ImageDecodeError(const std::string& message) : std::runtime_error(message) {}
};

struct DecodeLimits {
  int64_t max_width = 16384;
  int64_t max_height = 16384;
  int64_t max_pixels = 40'000'000;  // a 40-megapixel photo; 120 MB of RGB
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

ImageFormat SniffImageFormat(const uint8_t* data, size_t size);

Image8 DecodeImage(const uint8_t* data, size_t size, const DecodeLimits& limits = {});
Image8 DecodeImageFile(const std::string& path, const DecodeLimits& limits = {});

// Shared by the decoders: throws ImageDecodeError when (width, height) exceed `limits`.
void CheckDimensions(int64_t width, int64_t height, const DecodeLimits& limits, const char* format);

}  // namespace beit
