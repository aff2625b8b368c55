// JPEG decoding with libjpeg-turbo, configured as Pillow configures it. See image_decoder.h for
// the contract; this is the JPEG half.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/image/image.h"
#include "model/image/image_decoder.h"

namespace beit {

Image8 DecodeJpeg(const uint8_t* data, size_t size, const DecodeLimits& limits);

}  // namespace beit
