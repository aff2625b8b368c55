// PNG encoding with libspng: label maps (Segment's optional PNG) and RGB images (the client's
// colour overlay).
//
// Contract:
// - EncodeLabelMapPng(map [H, W]) writes 8-bit greyscale when every label is in 0..255, else
//   16-bit greyscale; labels must be in 0..65535 (otherwise ModelError). Decoding the 8-bit file
//   with DecodeLabelMapPng (or PIL) gives the labels back exactly.
// - EncodeRgbPng(image) needs a 3-channel Image8.
// - Both return the complete file's bytes; libspng failures are ModelErrors.
#pragma once

#include <string>

#include "model/image/image.h"
#include "model/tensor.h"

namespace beit {

std::string EncodeLabelMapPng(const LabelMap& map);
std::string EncodeRgbPng(const Image8& image);

}  // namespace beit
