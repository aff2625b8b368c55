// BeitImageProcessor.post_process_semantic_segmentation.
//
// Contract:
// - SemanticMapAtSize(logits [B, K, h, w], i, H, W): image i's logits bilinearly resized to H x W
//   (align_corners=False, PyTorch's kernel) then argmax over K (first maximum wins, as
//   torch.argmax) -> [H, W].
// - SemanticScoresAtSize: the same resized logits' softmax probability of the winning class, per
//   pixel -> [H, W] (a confidence map to go with the label map).
// - SemanticMapsNative(logits): argmax at the logits' own resolution -> [B, h, w].
#pragma once

#include <cstdint>

#include "model/tensor.h"

namespace beit {

LabelMap SemanticMapAtSize(const Tensor& logits, int64_t image_index, int64_t height, int64_t width);
struct SemanticPrediction {
  LabelMap map;   // [H, W]
  Tensor scores;  // [H, W] when asked for, else empty
};
SemanticPrediction PredictSemanticAtSize(const Tensor& logits, int64_t image_index, int64_t height, int64_t width,
                                         bool with_scores);
LabelMap SemanticMapsNative(const Tensor& logits);

}  // namespace beit
