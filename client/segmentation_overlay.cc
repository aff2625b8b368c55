#include "client/segmentation_overlay.h"

#include <stdexcept>

namespace beit::client {

std::array<uint8_t, 3> ClassColor(int32_t label) {
  // Golden-angle hue steps give neighbouring labels distant colours; full saturation and value.
  const double hue = static_cast<double>((static_cast<uint32_t>(label) * 137u) % 360u) / 60.0;
  const int sector = static_cast<int>(hue);
  const double f = hue - sector;
  const uint8_t up = static_cast<uint8_t>(255 * f), down = static_cast<uint8_t>(255 * (1 - f));
  switch (sector) {
    case 0:
      return {255, up, 0};
    case 1:
      return {down, 255, 0};
    case 2:
      return {0, 255, up};
    case 3:
      return {0, down, 255};
    case 4:
      return {up, 0, 255};
    default:
      return {255, 0, down};
  }
}

Image8 OverlayLabels(const Image8& image, const LabelMap& labels) {
  if (image.channels != 3 || labels.shape.size() != 2 || labels.dim(0) != image.height ||
      labels.dim(1) != image.width) {
    throw std::invalid_argument("overlay: the label map must have the image's size");
  }
  Image8 out(image.width, image.height, 3);
  for (int64_t i = 0; i < image.width * image.height; ++i) {
    const std::array<uint8_t, 3> c = ClassColor(labels.data[i]);
    for (int k = 0; k < 3; ++k) {
      out.pixels[3 * i + k] = static_cast<uint8_t>((image.pixels[3 * i + k] + c[k] + 1) / 2);
    }
  }
  return out;
}

}  // namespace beit::client
