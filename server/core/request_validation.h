// Turning a task's parameters (task_parameters.h, translated by a front door from its messages)
// into a validated task input: everything a client can get wrong is caught here, before a request
// is queued, as INVALID_ARGUMENT with a message naming the field (beit.v1's field names, which the
// Open Inference Protocol's parameters share). Pure functions of the model's description (no
// model, no protocol), so they can be fuzzed.
//
// Contract:
// - ValidatePixelValues: shape [3, H, W] or [1, 3, H, W] at the model's image size, as many values
//   as the shape says, all finite -> [1, 3, H, W] pixels.
// - Classify: top_k >= 0 (0 means 5), capped at the number of labels; no predictions at all
//   without with_predictions.
// - Segment: output size both zero (the original size) or both in 1..16384 with at most 40 M
//   pixels.
// - Embed: layers in 0..num_layers; when layers are given, at least one of CLS / mean / patches.
// - PredictTokens: either a mask of exactly one entry per patch, or a mask_ratio in (0, 1] (BEiT's
//   blockwise masking from `seed`); the mask must mask something; top_k like Classify's over the
//   visual vocabulary.
// - Explain: unset query: the model's pooling (CLS for "cls", else MEAN_PATCHES); `head` only
//   with LAST_LAYER and in 0..num_heads-1; output size as Segment's; top_k like Classify's for
//   classifiers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/model_description.h"
#include "server/core/model_tasks.h"
#include "server/core/task_parameters.h"

namespace beit::serving {

absl::StatusOr<PreparedImage> ValidatePixelValues(const ModelDescription& model, const std::vector<int64_t>& shape,
                                                  const float* data, size_t count);

absl::StatusOr<ClassifyInput> MakeClassifyInput(const ModelDescription& model, const ClassifyParams& params,
                                                PreparedImage image);
absl::StatusOr<SegmentInput> MakeSegmentInput(const ModelDescription& model, const SegmentParams& params,
                                              PreparedImage image);
absl::StatusOr<EmbedInput> MakeEmbedInput(const ModelDescription& model, const EmbedParams& params,
                                          PreparedImage image);
// `mask`: the image's patch mask (one entry per patch, 1 = masked), or empty for params.mask_ratio.
absl::StatusOr<PredictTokensInput> MakePredictTokensInput(const ModelDescription& model,
                                                          const PredictTokensParams& params,
                                                          const std::vector<uint8_t>& mask, PreparedImage image);
absl::StatusOr<ExplainInput> MakeExplainInput(const ModelDescription& model, const ExplainParams& params,
                                              PreparedImage image);

}  // namespace beit::serving
