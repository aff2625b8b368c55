// Bilinear resizing of NHWC feature maps, matching torch.nn.functional.interpolate(
// mode="bilinear", align_corners=False) as the UperNet head uses it.
//
// Why our own loop and not oneDNN's resampling primitive: oneDNN 2.6.3's JIT linear resamplers
// crash (SIGSEGV) on NHWC maps of 512+ channels (BEiT-base UperNet's 768-channel 20x20 -> 40x40),
// and which implementation it picks depends on the CPU, so no choice among them is safe on every
// tier. This is a handful of multiply-adds per output value, memory-bound either way; the loop
// over channels vectorises at whatever ISA the build targets.
//
// Contract: returns x resized to (out_h, out_w), channels unchanged; a same-size call returns a
// copy. Source taps and weights are PyTorch's (interpolate.h), computed once per call. Each
// output is a fixed expression of its four taps, so the result depends on nothing but the input:
// not on the batch, threads or CPU tier (up to the compiler's fused multiply-adds). Parallel with
// OpenMP over output rows.
#pragma once

#include <cstdint>

#include "model/ops/feature_map.h"

namespace beit {

FeatureMap ResizeBilinear(const FeatureMap& x, int64_t out_h, int64_t out_w);

}  // namespace beit
