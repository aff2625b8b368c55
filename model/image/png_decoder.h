// PNG decoding with libspng, converted to RGB as Pillow's convert("RGB") does. See
// image_decoder.h for the contract; this is the PNG half.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/image/image.h"
#include "model/image/image_decoder.h"

namespace beit {

Image8 DecodePng(const uint8_t* data, size_t size, const DecodeLimits& limits);

// A segmentation label map as np.asarray(PIL.Image.open(png)) sees it: 8-bit grey values or
// palette indices, one channel. Other PNG types are ImageDecodeErrors.
Image8 DecodeLabelMapPng(const uint8_t* data, size_t size, const DecodeLimits& limits);

}  // namespace beit
