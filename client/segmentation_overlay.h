// A colour overlay of a segmentation label map on its image, for people to look at.
//
// Contract: OverlayLabels(image RGB [H, W], labels [H, W]) blends each pixel 50/50 with its class
// colour (a fixed, well-separated palette indexed by label); sizes must match, else
// std::invalid_argument. ClassColor(label) is that palette.
#pragma once

#include <array>
#include <cstdint>

#include "model/image/image.h"
#include "model/tensor.h"

namespace beit::client {

std::array<uint8_t, 3> ClassColor(int32_t label);
Image8 OverlayLabels(const Image8& image, const LabelMap& labels);

}  // namespace beit::client
