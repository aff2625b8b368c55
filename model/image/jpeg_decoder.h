// JPEG decoding with libjpeg-turbo, configured as Pillow configures it. See image_decoder.h for
// the contract; this is the JPEG half.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "model/image/image.h"
#include "model/image/image_decoder.h"

namespace beit {

Image8 DecodeJpeg(const uint8_t* data, size_t size, const DecodeLimits& limits);

// Row by row, for callers that transform each row as it is decoded (encoded_image_preprocessing.h),
// with DecodeJpeg's settings, so the same bytes. Only 3-component JPEGs (YCbCr or RGB): for others
// it returns false having decoded nothing. Else, after the header and the limits, `begin` gets the
// size and EXIF orientation and returns where rows go (width * 3 bytes, rewritten for each row),
// or nullptr to decline (false); then row(y) runs after each row y in order, and it returns true.
// Errors throw ImageDecodeError with DecodeJpeg's messages; an exception from a callback passes through.
struct JpegRowsInfo {
  int64_t width = 0, height = 0;
  int orientation = 1;  // as ApplyOrientation takes it; 1 (or anything outside 2..8): as stored
};
bool DecodeJpegRgbRows(const uint8_t* data, size_t size, const DecodeLimits& limits,
                       const std::function<uint8_t*(const JpegRowsInfo&)>& begin,
                       const std::function<void(int64_t y)>& row);

}  // namespace beit
