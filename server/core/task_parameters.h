// What a client chooses for each task, as plain values: every front door translates its own
// messages (beit.v1 protos, Open Inference Protocol tensors and parameters) into these, and the
// core validates them (request_validation.h) into task inputs (model_tasks.h). Zero values mean
// what beit.v1's unset fields mean.
#pragma once

#include <cstdint>
#include <optional>

#include "model/explain/attention_explanation.h"

namespace beit::serving {

struct ClassifyParams {
  int top_k = 0;                  // 0: 5
  bool with_predictions = true;   // false: no top-k (the caller reads the logits)
  bool with_logits = false;
};

struct SegmentParams {
  // Both 0: the image's original size (for several images, their shared original size, else
  // the model's input size).
  int64_t output_height = 0, output_width = 0;
  bool with_scores = false;
  bool with_logits = false;
};

struct EmbedParams {
  bool l2_normalize = false;
  std::vector<int> layers;
  bool include_cls = false, include_mean = false, include_patches = false;
  bool with_last_hidden_state = false;
};

// The patch mask itself belongs to each image (ImageInput::patch_mask); without one, BEiT's
// blockwise masking of mask_ratio of the patches from `seed`.
struct PredictTokensParams {
  float mask_ratio = 0.f;
  uint64_t seed = 0;
  int top_k = 0;  // 0: 5
  bool with_logits = false;
};

struct ExplainParams {
  AttentionMethod method = AttentionMethod::kRollout;
  std::optional<AttentionQuery> query;  // unset: the model's pooling
  std::optional<int> head;              // LAST_LAYER only
  int64_t output_height = 0, output_width = 0;  // as SegmentParams
  int top_k = 0;                        // classifiers; 0: 5
};

}  // namespace beit::serving
