// Shared by the decoder fuzzers: small decode limits (so a fuzzer explores parsing instead of
// allocating the full 40-megapixel budget) and a small processor configuration.
//
// Contract: FuzzProcessorConfig is a real ImageProcessorConfig with tiny output sizes (a crop wider
// than the resize, so zero padding runs too) and the resample filter chosen by `selector`, so
// every Pillow filter sees fuzzed pixels.
#pragma once

#include <cstddef>

#include "model/image/image.h"
#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"

namespace beit {

inline DecodeLimits FuzzDecodeLimits() {
  DecodeLimits limits;
  limits.max_width = 4096;
  limits.max_height = 4096;
  limits.max_pixels = 1 << 22;
  return limits;
}

inline ImageProcessorConfig FuzzProcessorConfig(size_t selector) {
  ImageProcessorConfig config;
  config.resize_height = 24;
  config.resize_width = 20;
  config.crop_height = 16;
  config.crop_width = 22;
  constexpr ResampleFilter kFilters[] = {ResampleFilter::kNearest, ResampleFilter::kBox,
                                         ResampleFilter::kBilinear, ResampleFilter::kHamming,
                                         ResampleFilter::kBicubic, ResampleFilter::kLanczos};
  config.resample = kFilters[selector % 6];
  return config;
}

}  // namespace beit
