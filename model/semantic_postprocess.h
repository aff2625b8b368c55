// BeitImageProcessor.post_process_semantic_segmentation.
//
// Contract:
// - SemanticMapAtSize(logits [B, K, h, w], i, H, W): image i's logits bilinearly resized to H x W
//   (align_corners=False, PyTorch's kernel) then argmax over K (first maximum wins, as
//   torch.argmax) -> [H, W].
// - SemanticMapsNative(logits): argmax at the logits' own resolution -> [B, h, w].
#pragma once

#include <cstdint>

#include "model/tensor.h"

namespace beit {

LabelMap SemanticMapAtSize(const Tensor& logits, int64_t image_index, int64_t height, int64_t width);
LabelMap SemanticMapsNative(const Tensor& logits);

}  // namespace beit
