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
//
// The passes are also offered a row at a time (ResampleAxis, ResampleRowRgb, ResampleColumns) for
// callers that resize rows as a decoder produces them (model/image/encoded_image_preprocessing.h):
// the same integer arithmetic, so the same bytes. On x86-64-v3 builds the RGB row and the column
// pass use AVX2 (32-bit products, exact); elsewhere plain loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/image/image.h"

namespace beit {

enum class ResampleFilter : int { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

Image8 PillowResize(const Image8& src, int64_t out_width, int64_t out_height, ResampleFilter filter);

// One axis of a convolution resize (any filter but NEAREST): per output index the first input
// index, the tap count and `ksize` fixed-point weights (zero beyond the count).
struct ResampleAxis {
  int64_t in_size = 0, out_size = 0;
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
  std::vector<int32_t> rgb_weights;  // each tap's weight four times, taps padded to an even count
};
ResampleAxis PlanResampleAxis(int64_t in_size, int64_t out_size, ResampleFilter filter);

// Bytes a row given to ResampleRowRgb must hold: its in_size * 3 pixels bytes, then zeros.
size_t PaddedRgbRowBytes(const ResampleAxis& axis);
// The horizontal pass over one RGB row, output pixels [x0, x1) written to out[0 .. (x1 - x0) * 3).
// `row` holds PaddedRgbRowBytes(axis) bytes, the padding zero.
void ResampleRowRgb(const uint8_t* row, const ResampleAxis& axis, int64_t x0, int64_t x1, uint8_t* out);
// The vertical pass for output row `y`: `len` bytes from each of axis.count[y] rows, the first at
// `first_row` (input row axis.first[y]) and each `stride` bytes after the previous one.
void ResampleColumns(const uint8_t* first_row, int64_t stride, const ResampleAxis& axis, int64_t y, int64_t len,
                     uint8_t* out);

}  // namespace beit
