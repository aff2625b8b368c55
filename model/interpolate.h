// torch.nn.functional.interpolate(..., size=(oh, ow), align_corners=False) on planar float data,
// reproducing PyTorch's CPU kernels: source index (dst + 0.5) * in/out - 0.5, bilinear clamps it at
// 0 and uses the right neighbour only inside the image; bicubic uses A = -0.75 and clamps the four
// taps to the border. Used where Transformers resizes parameters (position embeddings, relative
// position tables) and in post-processing, so results match Transformers to float rounding.
//
// Contract: `in` holds `planes` planes of [h, w]; `out` receives `planes` planes of [oh, ow].
#pragma once

#include <cstdint>

namespace beit {

void ResizeBilinear(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow);
void ResizeBicubic(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow);

}  // namespace beit
