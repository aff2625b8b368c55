// A heat map blended over an image: what Explain returns as a picture.
//
// Contract:
// - HeatmapOverlay(image, map) takes `map` at the image's size ([height, width], values in 0..1,
//   row-major; a ModelError otherwise), colours it with a black-red-yellow-white ramp and blends
//   it over the image (greyscale images become RGB): the result is RGB, the image's size; pixel = (1 - a) * image + a * colour with a = 0.25 + 0.5 * value, so
//   the image stays visible where the map is cold. Values outside 0..1 are clamped.
// - GreyscaleFromPixels(pixel_values [1 or none, 3, H, W]) is a stand-in picture for a request
//   that sent pixel values: the channel mean, stretched to 0..255 (a flat image is mid-grey).
#pragma once

#include <cstdint>
#include <vector>

#include "model/image/image.h"
#include "model/tensor.h"

namespace beit {

Image8 HeatmapOverlay(const Image8& image, const std::vector<float>& map);
Image8 GreyscaleFromPixels(const Tensor& pixel_values);

}  // namespace beit
