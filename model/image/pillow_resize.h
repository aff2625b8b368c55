// Image.resize((w, h), resample) exactly as Pillow 9.x computes it for 8-bit images, so resized
// pixels are byte-identical to what Transformers' BeitImageProcessor feeds the model.
//
// Contract:
// - Filters use PIL's integer codes: NEAREST 0, LANCZOS 1, BILINEAR 2, BICUBIC 3, BOX 4,
//   HAMMING 5. Unknown codes are rejected by ParseResampleFilter's callers, not here.
// - Convolution filters follow libImaging/Resample.c: support widened by the scale when
//   downscaling (antialiasing), taps outside the image dropped and the rest renormalised,
//   coefficients in 22-bit fixed point, horizontal pass first with its result rounded and
//   clipped to uint8, then the vertical pass. A same-size axis is not filtered.
// - NEAREST follows Pillow's affine path (source position accumulated by repeated addition).
// - Works for any channel count; same-size resize returns a copy.
#pragma once

#include <cstdint>

#include "model/image/image.h"

namespace beit {

enum class ResampleFilter : int { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

Image8 PillowResize(const Image8& src, int64_t out_width, int64_t out_height, ResampleFilter filter);

}  // namespace beit
