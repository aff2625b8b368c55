// EXIF orientation: reading the tag from an EXIF (TIFF) block and applying it as Pillow's
// ImageOps.exif_transpose does.
//
// Contract:
// - ReadExifOrientation parses a TIFF block (starting at "II*\0" or "MM\0*"; a leading
//   "Exif\0\0" is skipped) and returns IFD0's tag 0x0112, or 1 when absent or malformed. It never
//   reads outside [data, data + size).
// - ApplyOrientation maps 2..8 to Pillow's transposes (6 = rotate 90 degrees clockwise, 8 = 90
//   counter-clockwise, 5/7 = transpose/transverse); other values leave the image unchanged.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/image/image.h"

namespace beit {

int ReadExifOrientation(const uint8_t* data, size_t size);
Image8 ApplyOrientation(Image8 image, int orientation);

}  // namespace beit
