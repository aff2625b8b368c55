// Attention maps over the patch grid ("what the model looks at"), built from the per-layer
// attention probabilities that BeitModelRequest::attention_observer delivers.
//
// Contract:
// - AttentionExplainer(batch B, heads H, tokens N, num_layers L, one ExplanationRequest per image)
//   takes the layers through AddLayer(l, probs [B, H, N, N] row-major), in order 0..L-1, each
//   exactly once; Grid(b) then returns image b's map over the N-1 patch tokens (tokens 1..N-1,
//   row-major over the patch grid) divided by its maximum (all zeros when the maximum is 0).
// - kRollout (Abnar & Zuidema 2020): A_l = mean over heads of layer l's probabilities [N, N];
//   Â_l = 0.5 A_l + 0.5 I with each row renormalised to sum 1; R = Â_L ... Â_1 (layer 1 applied
//   first). The map is R's query row over the patch columns.
// - kLastLayer: the last layer's probabilities from the query over the patch columns, averaged
//   over heads (head = -1) or of head `head` only.
// - Query kCls is row 0 (the CLS token); kMeanPatches is the mean of rows 1..N-1.
// - Memory: one running R [N, N] per rollout image plus two shared [N, N] buffers; no layer's
//   probabilities are kept after AddLayer returns. Cost per rollout image: an N^3 product for
//   each middle layer; the first layer needs none and the last only its query row (N^2).
// - Invalid arguments (sizes, per_image count, head out of [-1, H), head >= 0 with kRollout,
//   unknown enum values) are std::invalid_argument from the constructor; a layer out of order or
//   a probs shape that differs is std::invalid_argument from AddLayer/Observe; Grid before the
//   last layer, or of an image out of range, is std::logic_error / std::out_of_range.
// - Not thread-safe; one explainer per forward pass.
#pragma once

#include <cstdint>
#include <vector>

namespace beit {

enum class AttentionMethod { kRollout, kLastLayer };
enum class AttentionQuery { kCls, kMeanPatches };

struct ExplanationRequest {
  AttentionMethod method = AttentionMethod::kRollout;
  AttentionQuery query = AttentionQuery::kCls;
  int head = -1;  // -1: mean over heads; a head index only for kLastLayer
};

class AttentionExplainer {
 public:
  AttentionExplainer(int64_t batch, int64_t heads, int64_t tokens, int num_layers,
                     std::vector<ExplanationRequest> per_image);

  // Layer `layer`'s probabilities [batch, heads, tokens, tokens]; layers arrive in order.
  void AddLayer(int layer, const float* probs);
  // AddLayer after checking the shape, with attention_observer's signature (bind it there).
  void Observe(int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens);

  bool complete() const { return next_layer_ == num_layers_; }
  // Image `image`'s map over the tokens-1 patch tokens, divided by its maximum.
  std::vector<float> Grid(int64_t image) const;

 private:
  // Â of image b for this layer (mean over heads, half identity, rows renormalised) into hat_.
  void RolloutMatrix(int64_t b, const float* probs);
  // The query vector over rows of an [N, N] matrix: row 0, or the mean of rows 1..N-1.
  void QueryRow(const float* m, AttentionQuery query, float* out) const;
  // Divides by the maximum (zeros if it is 0) and stores image b's map.
  void Finish(int64_t b, const float* patch_values);

  int64_t batch_, heads_, tokens_;
  int num_layers_;
  std::vector<ExplanationRequest> per_image_;
  int next_layer_ = 0;
  std::vector<std::vector<float>> rollout_;  // per image: R so far [N, N] (empty if not rollout)
  std::vector<float> hat_, product_, row_;   // shared working space
  std::vector<std::vector<float>> maps_;     // per image: the final map [N-1]
};

}  // namespace beit
