// BeitImageProcessor.preprocess for decoded images, bit-exact with Transformers (slow processor,
// numpy + Pillow) on uint8 RGB input.
//
// Contract:
// - Preprocess(images) runs, per image: Pillow resize to (height, width) with the config's
//   filter -> center crop (top/left = floor((H - h) / 2); a crop larger than the image pads with
//   zeros first, the odd extra pixel on the top/left) -> rescale as float32(double(v) * factor)
//   -> normalize as float32 (x - mean) / std -> CHW. Images are stacked into pixel_values
//   [B, 3, h, w]; all images get the same output size, so any mix of input sizes batches.
// - PreprocessLabels(map) is the segmentation-map path: reduce_labels when configured
//   (0 -> 255, v -> v - 1), the same resize (as an 8-bit 'L' image) and crop, no rescale.
// - Inputs must be 3-channel (images) or 1-channel (label maps); others are ModelErrors.
#pragma once

#include <cstdint>
#include <vector>

#include "model/image/image.h"
#include "model/image/image_processor_config.h"
#include "model/tensor.h"

namespace beit {

// Where transformers' center_crop puts a crop of `crop` pixels in `size`: floor((size - crop) / 2),
// negative when the crop is larger (it then pads).
inline int64_t CenterCropOffset(int64_t size, int64_t crop) {
  const int64_t v = size - crop;
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

class ImageProcessor {
 public:
  explicit ImageProcessor(ImageProcessorConfig config);

  Tensor Preprocess(const std::vector<const Image8*>& images) const;
  // Writes one image's [3, h, w] planes to `out` (output_height() * output_width() * 3 floats).
  void PreprocessInto(const Image8& image, float* out) const;
  TypedTensor<int64_t> PreprocessLabels(const Image8& label_map) const;
  // The last step of Preprocess for `n` RGB pixels: rescale and normalise into three planes.
  void NormalizeRgb(const uint8_t* rgb, int64_t n, float* r, float* g, float* b) const;

  const ImageProcessorConfig& config() const { return config_; }

 private:
  Image8 ResizeAndCrop(const Image8& image) const;

  ImageProcessorConfig config_;
  float lut_[3][256];  // uint8 -> normalised float per channel, computed with Transformers' roundings
};

}  // namespace beit
