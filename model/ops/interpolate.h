// torch.nn.functional.interpolate(..., size=(oh, ow), align_corners=False) on planar float data,
// reproducing PyTorch's CPU kernels: source index (dst + 0.5) * in/out - 0.5, bilinear clamps it at
// 0 and uses the right neighbour only inside the image; bicubic uses A = -0.75 and clamps the four
// taps to the border. Used where Transformers resizes parameters (position embeddings, relative
// position tables) and in post-processing, so results match Transformers to float rounding.
//
// Contract: `in` holds `planes` planes of [h, w]; `out` receives `planes` planes of [oh, ow].
#pragma once

#include <cstdint>
#include <vector>

namespace beit {

// One output coordinate's two source taps and their weights, as PyTorch's
// compute_source_index_and_lambda (align_corners=False) gives them.
struct LinearTap {
  int64_t i0, i1;
  float l0, l1;
};
std::vector<LinearTap> LinearTaps(int64_t in, int64_t out);

void ResizeBilinear(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow);
void ResizeBicubic(const float* in, int64_t planes, int64_t h, int64_t w, float* out, int64_t oh, int64_t ow);

}  // namespace beit
