// BeitImageProcessor's settings, parsed from a model folder's preprocessor_config.json.
//
// Contract:
// - Absent fields take Transformers' BeitImageProcessor defaults: resize to 256x256 with BICUBIC,
//   center crop 224x224, rescale by 1/255, normalize with mean = std = 0.5, no label reduction.
// - `size` and `crop_size` accept Hub's forms: an int n ({n, n}), [h, w], or {"height", "width"}.
//   {"shortest_edge"} is rejected as BeitImageProcessor.resize rejects it (it needs height and
//   width); the message says so. `resample` is PIL's integer code (0..5).
// - Legacy keys are treated as this Transformers version does: `feature_extractor_type` and
//   `reduce_labels` are ignored (only `do_reduce_labels` counts).
// - Invalid values are ModelErrors naming the field.
#pragma once

#include <string>

#include "model/image/pillow_resize.h"

namespace beit {

struct ImageProcessorConfig {
  bool do_resize = true;
  int64_t resize_height = 256, resize_width = 256;
  ResampleFilter resample = ResampleFilter::kBicubic;
  bool do_center_crop = true;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  float image_mean[3] = {0.5f, 0.5f, 0.5f};
  float image_std[3] = {0.5f, 0.5f, 0.5f};
  bool do_reduce_labels = false;

  // Output size of Preprocess for any input.
  int64_t output_height() const;
  int64_t output_width() const;
};

ImageProcessorConfig ParseImageProcessorConfig(const std::string& json_text,
                                               const std::string& source = "preprocessor_config.json");
ImageProcessorConfig LoadImageProcessorConfig(const std::string& path);

}  // namespace beit
