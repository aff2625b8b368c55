// Encoded image bytes to pixel_values in one call: what the server does with every image it gets.
//
// Why: decoded whole, a 640x480 JPEG is 0.9 MB of RGB that is then copied, resized through a
// 0.3 MB intermediate and normalised; on a small pod the threads doing this share their cores and
// caches with the model's forward, which they slow down (bench/RESULTS.md, issue #29). For the
// common case the rows are resized horizontally as libjpeg produces them, only the rows and
// columns the output needs, so the full-size image never exists.
//
// Contract:
// - PreprocessEncodedImage(processor, data, size, limits) returns the same bits as
//   processor.Preprocess({&DecodeImage(data, size, limits)}) ([1, 3, h, w]) with the decoded
//   image's size (after EXIF orientation), and throws what they throw (ImageDecodeError,
//   ModelError) with the same messages.
// - The one-pass path takes JPEGs of three components without EXIF rotation, resized with a
//   convolution filter (not NEAREST) and center-cropped inside the resized image or not at all;
//   every other image is decoded whole first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/image/image_decoder.h"
#include "model/image/image_processor.h"
#include "model/tensor.h"

namespace beit {

struct PreprocessedImage {
  Tensor pixels;  // [1, 3, h, w]
  int64_t original_height = 0, original_width = 0;
  bool one_pass = false;  // which path it took (the tests and beit-preprocess-bench report it)
};

PreprocessedImage PreprocessEncodedImage(const ImageProcessor& processor, const uint8_t* data, size_t size,
                                         const DecodeLimits& limits = {});

}  // namespace beit
