// An 8-bit image with interleaved channels (HWC), the form decoders produce and the processor
// consumes: 3 channels for photos (RGB), 1 for segmentation label maps.
//
// Contract: pixels.size() == height * width * channels.
#pragma once

#include <cstdint>
#include <vector>

namespace beit {

struct Image8 {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;

  Image8() = default;
  Image8(int64_t w, int64_t h, int64_t c) : width(w), height(h), channels(c), pixels(w * h * c) {}
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
};

}  // namespace beit
