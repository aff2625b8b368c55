#include "model/image/heatmap_overlay.h"

#include <algorithm>
#include <cmath>

#include "model/model_error.h"

namespace beit {
namespace {

// Black -> red -> yellow -> white as value goes 0 -> 1/3 -> 2/3 -> 1.
void HeatColour(float v, float rgb[3]) {
  v = std::clamp(v, 0.f, 1.f) * 3.f;
  rgb[0] = std::min(v, 1.f);
  rgb[1] = std::clamp(v - 1.f, 0.f, 1.f);
  rgb[2] = std::clamp(v - 2.f, 0.f, 1.f);
}

}  // namespace

Image8 HeatmapOverlay(const Image8& image, const std::vector<float>& map) {
  const int64_t H = image.height, W = image.width;
  if (static_cast<int64_t>(map.size()) != H * W) {
    throw ModelError("heat map of " + std::to_string(map.size()) + " values for a " + std::to_string(W) + "x" +
                     std::to_string(H) + " image");
  }
  Image8 out(W, H, 3);
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* in = image.row(y);
    uint8_t* o = out.row(y);
    for (int64_t x = 0; x < W; ++x) {
      const float v = std::clamp(map[y * W + x], 0.f, 1.f);
      float colour[3];
      HeatColour(v, colour);
      const float a = 0.25f + 0.5f * v;
      for (int c = 0; c < 3; ++c) {
        const float base = image.channels >= 3 ? in[x * image.channels + c] : in[x * image.channels];
        o[x * 3 + c] = static_cast<uint8_t>(std::lround((1.f - a) * base + a * 255.f * colour[c]));
      }
    }
  }
  return out;
}

Image8 GreyscaleFromPixels(const Tensor& pixel_values) {
  const int64_t H = pixel_values.shape[pixel_values.shape.size() - 2];
  const int64_t W = pixel_values.shape.back();
  const float* p = pixel_values.ptr();
  std::vector<float> mean(static_cast<size_t>(H * W));
  for (int64_t i = 0; i < H * W; ++i) mean[i] = (p[i] + p[H * W + i] + p[2 * H * W + i]) / 3.f;
  const auto [lo, hi] = std::minmax_element(mean.begin(), mean.end());
  const float low = *lo, range = *hi - *lo;
  Image8 out(W, H, 1);
  for (int64_t i = 0; i < H * W; ++i) {
    out.pixels[i] = static_cast<uint8_t>(range > 0.f ? std::lround(255.f * (mean[i] - low) / range) : 128);
  }
  return out;
}

}  // namespace beit
