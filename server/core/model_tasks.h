// The five serving tasks (Classify, Segment, Embed, PredictTokens, Explain) as batch functions
// over a loaded model: plain C++ in, plain C++ out (no gRPC, no oneDNN). Each runs one
// ModelRunner forward for a whole batch and splits the outputs per request; a request's answer
// does not depend on what it was batched with.
//
// Contract:
// - Inputs carry one preprocessed image [1, 3, H, W] each, all of the model's image size (the
//   caller validated them: see ServedModel). Per-request parameters were validated too.
// - Every task returns its head's raw logits too (the backbone's last_hidden_state for Embed)
//   when the input asks (`with_logits`, `with_last_hidden_state`): the Open Inference Protocol's
//   outputs; beit.v1 never asks.
// - Classify: softmax over logits, top_k best (ties: lower index first), labels from id2label.
// - Segment: post_process_semantic_segmentation at (height, width), optional winner probabilities.
// - Embed: the pooler output (mean of patch tokens + LayerNorm, or the final CLS token); for heads
//   without a pooler (masked image modeling, segmentation) the mean of the final patch tokens
//   (use_mean_pooling) or the final CLS token. Optional L2 normalisation; per-layer CLS / mean /
//   patch tokens from hidden_states[layer].
// - PredictTokens: for every masked patch, top_k visual tokens by softmax probability.
// - Explain: the attention map of each image (model/explain/attention_explanation.h) on the patch
//   grid, resized bilinearly to (height, width); classifiers also give their top_k answer. The
//   map is accumulated layer by layer during the forward (no [L, B, H, N, N] tensor is kept).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/explain/attention_explanation.h"
#include "model/model_runner.h"
#include "model/tensor.h"

namespace beit::serving {

struct ClassifyInput {
  Tensor pixels;
  int top_k = 5;
  bool with_logits = false;
};
struct ClassScore {
  int index = 0;
  std::string label;
  float score = 0.f;
};
struct ClassifyOutput {
  std::vector<ClassScore> predictions;
  std::vector<float> logits;  // [num_labels] when asked
};

struct SegmentInput {
  Tensor pixels;
  int64_t height = 0, width = 0;  // output size
  bool with_scores = false;
  bool with_logits = false;
};
struct SegmentOutput {
  LabelMap label_map;  // [height, width]
  Tensor scores;       // [height, width] when asked
  Tensor logits;       // [num_labels, h, w] at the head's own resolution, when asked
};

struct EmbedInput {
  Tensor pixels;
  bool l2_normalize = false;
  std::vector<int> layers;
  bool include_cls = false, include_mean = false, include_patches = false;
  bool with_last_hidden_state = false;
};
struct LayerTokens {
  int layer = 0;
  std::vector<float> cls, mean, patches;
};
struct EmbedOutput {
  std::vector<float> embedding;
  std::vector<LayerTokens> layers;
  std::vector<float> last_hidden_state;  // [1 + num_patches, hidden] when asked
};

struct PredictTokensInput {
  Tensor pixels;
  std::vector<uint8_t> mask;  // one per patch, 1 = masked
  int top_k = 5;
  bool with_logits = false;
};
struct TokenScore {
  int token_id = 0;
  float probability = 0.f;
};
struct MaskedPatchPrediction {
  int patch_index = 0;
  std::vector<TokenScore> predictions;
};
struct PredictTokensOutput {
  std::vector<MaskedPatchPrediction> patches;
  std::vector<uint8_t> mask;  // the mask used
  std::vector<float> logits;  // [num_patches, vocab_size] when asked
};

struct ExplainInput {
  Tensor pixels;
  ExplanationRequest explanation;
  int64_t height = 0, width = 0;  // map size
  int top_k = 5;                  // classifiers
};
struct ExplainOutput {
  int64_t grid_height = 0, grid_width = 0;
  std::vector<float> grid;             // [grid_height, grid_width], max 1
  int64_t height = 0, width = 0;
  std::vector<float> map;              // [height, width]
  std::vector<ClassScore> predictions;  // classifiers
};

// "mean", "cls" or "mean-no-pooler" (see the contract above).
std::string EmbeddingPooling(const ModelRunner& model);

std::vector<absl::StatusOr<ClassifyOutput>> RunClassifyBatch(const ModelRunner& model, std::vector<ClassifyInput>& batch);
std::vector<absl::StatusOr<SegmentOutput>> RunSegmentBatch(const ModelRunner& model, std::vector<SegmentInput>& batch);
std::vector<absl::StatusOr<EmbedOutput>> RunEmbedBatch(const ModelRunner& model, std::vector<EmbedInput>& batch);
std::vector<absl::StatusOr<PredictTokensOutput>> RunPredictTokensBatch(const ModelRunner& model,
                                                                        std::vector<PredictTokensInput>& batch);
std::vector<absl::StatusOr<ExplainOutput>> RunExplainBatch(const ModelRunner& model, std::vector<ExplainInput>& batch);

// The k largest values' indices, best first, ties to the lower index.
std::vector<int> TopKIndices(const float* values, int count, int k);

// Softmax over `values` (the same arithmetic as TopKSoftmax's probabilities).
std::vector<float> Softmax(const float* values, int count);

// Softmax over `values`, then the k best (index, probability), best first, lower index on ties.
std::vector<std::pair<int, float>> TopKSoftmax(const float* values, int count, int k);

}  // namespace beit::serving
