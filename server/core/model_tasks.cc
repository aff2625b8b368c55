#include "server/core/model_tasks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <utility>

#include "model/ops/interpolate.h"

namespace beit::serving {
namespace {

// [1, 3, H, W] each -> [B, 3, H, W].
template <typename Input>
Tensor StackPixels(const std::vector<Input>& batch) {
  Shape shape = batch.front().pixels.shape;
  shape[0] = static_cast<int64_t>(batch.size());
  Tensor stacked(shape);
  const size_t per_image = batch.front().pixels.data.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    std::memcpy(stacked.ptr() + i * per_image, batch[i].pixels.ptr(), per_image * sizeof(float));
  }
  return stacked;
}

const NamedOutput* FindOutput(const std::vector<NamedOutput>& outputs, const std::string& name) {
  for (const NamedOutput& o : outputs) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const NamedOutput& RequireOutput(const std::vector<NamedOutput>& outputs, const std::string& name) {
  const NamedOutput* o = FindOutput(outputs, name);
  if (!o) throw std::runtime_error("model produced no '" + name + "' output");
  return *o;
}

// The backbone's final tokens: "last_hidden_state" (BeitModel) or "beit.last_hidden_state".
const NamedOutput& LastHiddenState(const std::vector<NamedOutput>& outputs) {
  const NamedOutput* o = FindOutput(outputs, "last_hidden_state");
  return o ? *o : RequireOutput(outputs, "beit.last_hidden_state");
}

const NamedOutput* PoolerOutput(const std::vector<NamedOutput>& outputs) {
  const NamedOutput* o = FindOutput(outputs, "pooler_output");
  return o ? o : FindOutput(outputs, "beit.pooler_output");
}

// n floats from `first` (resize + memcpy: GCC 12's -Wnonnull misfires on vector::assign here).
std::vector<float> CopyFloats(const float* first, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0) std::memcpy(out.data(), first, static_cast<size_t>(n) * sizeof(float));
  return out;
}

// Mean over tokens 1..N-1 of one image's [N, D] tokens.
std::vector<float> MeanOfPatchTokens(const float* tokens, int64_t N, int64_t D) {
  std::vector<double> sum(D, 0.0);
  for (int64_t t = 1; t < N; ++t) {
    for (int64_t d = 0; d < D; ++d) sum[d] += tokens[t * D + d];
  }
  std::vector<float> mean(D);
  for (int64_t d = 0; d < D; ++d) mean[d] = static_cast<float>(sum[d] / static_cast<double>(N - 1));
  return mean;
}

void L2Normalize(std::vector<float>& v) {
  double norm = 0.0;
  for (float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (norm == 0.0) return;
  for (float& x : v) x = static_cast<float>(x / norm);
}

}  // namespace

namespace {

// softmax(v)_i = exp(v_i - top) / sum, in double: one definition for every probability served.
struct SoftmaxScale {
  float top;
  double sum;
  float operator()(float v) const { return static_cast<float>(std::exp(static_cast<double>(v) - top) / sum); }
};

SoftmaxScale ScaleOf(const float* values, int count) {
  const float top = *std::max_element(values, values + count);
  double sum = 0.0;
  for (int i = 0; i < count; ++i) sum += std::exp(static_cast<double>(values[i]) - top);
  return {top, sum};
}

}  // namespace

std::vector<int> TopKIndices(const float* values, int count, int k) {
  std::vector<int> order(count);
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, count);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  order.resize(k);
  return order;
}

std::vector<std::pair<int, float>> TopKSoftmax(const float* values, int count, int k) {
  const SoftmaxScale probability = ScaleOf(values, count);
  std::vector<std::pair<int, float>> best;
  for (int index : TopKIndices(values, count, k)) best.emplace_back(index, probability(values[index]));
  return best;
}

std::vector<float> Softmax(const float* values, int count) {
  const SoftmaxScale probability = ScaleOf(values, count);
  std::vector<float> p(count);
  for (int i = 0; i < count; ++i) p[i] = probability(values[i]);
  return p;
}

std::string EmbeddingPooling(const ModelRunner& model) {
  if (!model.config().use_mean_pooling) return "cls";
  return model.has_pooler() ? "mean" : "mean-no-pooler";
}

namespace {

std::vector<ClassScore> TopKClassScores(const ModelRunner& model, const float* logits, int num_labels, int k) {
  std::vector<ClassScore> out;
  for (const auto& [index, p] : TopKSoftmax(logits, num_labels, k)) {
    const auto label = model.config().id2label.find(index);
    out.push_back(
        ClassScore{index, label == model.config().id2label.end() ? "LABEL_" + std::to_string(index) : label->second, p});
  }
  return out;
}

}  // namespace

std::vector<absl::StatusOr<ClassifyOutput>> RunClassifyBatch(const ModelRunner& model, std::vector<ClassifyInput>& batch) {
  RunInputs inputs;
  inputs.pixel_values = StackPixels(batch);
  const std::vector<NamedOutput> outputs = model.Run(inputs, RunOptions{});
  const Tensor& logits = RequireOutput(outputs, "logits").values;
  const int num_labels = static_cast<int>(logits.dim(1));
  std::vector<absl::StatusOr<ClassifyOutput>> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    ClassifyOutput out;
    if (batch[i].with_logits) out.logits = CopyFloats(logits.ptr() + i * num_labels, num_labels);
    out.predictions = TopKClassScores(model, logits.ptr() + i * num_labels, num_labels, batch[i].top_k);
    results.push_back(std::move(out));
  }
  return results;
}

std::vector<absl::StatusOr<SegmentOutput>> RunSegmentBatch(const ModelRunner& model, std::vector<SegmentInput>& batch) {
  RunInputs inputs;
  inputs.pixel_values = StackPixels(batch);
  RunOptions options;
  for (const SegmentInput& in : batch) {
    options.target_sizes.emplace_back(in.height, in.width);
    options.semantic_scores = options.semantic_scores || in.with_scores;
  }
  std::vector<NamedOutput> outputs = model.Run(inputs, options);
  std::vector<absl::StatusOr<SegmentOutput>> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    SegmentOutput out;
    out.label_map = RequireOutput(outputs, "semantic_map." + std::to_string(i)).labels;
    if (batch[i].with_scores) out.scores = RequireOutput(outputs, "semantic_scores." + std::to_string(i)).values;
    if (batch[i].with_logits) {
      const Tensor& logits = RequireOutput(outputs, "logits").values;  // [B, num_labels, h, w]
      out.logits = Tensor({logits.dim(1), logits.dim(2), logits.dim(3)});
      const size_t per_image = out.logits.data.size();
      std::memcpy(out.logits.ptr(), logits.ptr() + i * per_image, per_image * sizeof(float));
    }
    results.push_back(std::move(out));
  }
  return results;
}

std::vector<absl::StatusOr<EmbedOutput>> RunEmbedBatch(const ModelRunner& model, std::vector<EmbedInput>& batch) {
  RunInputs inputs;
  inputs.pixel_values = StackPixels(batch);
  RunOptions options;
  for (const EmbedInput& in : batch) options.hidden_states = options.hidden_states || !in.layers.empty();
  const std::vector<NamedOutput> outputs = model.Run(inputs, options);
  const Tensor& last = LastHiddenState(outputs).values;  // [B, N, D]
  const int64_t N = last.dim(1), D = last.dim(2);
  const NamedOutput* pooler = PoolerOutput(outputs);
  const bool mean_pooling = model.config().use_mean_pooling;

  std::vector<absl::StatusOr<EmbedOutput>> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    const EmbedInput& in = batch[i];
    EmbedOutput out;
    if (pooler) {
      out.embedding = CopyFloats(pooler->values.ptr() + i * D, D);
    } else if (mean_pooling) {
      out.embedding = MeanOfPatchTokens(last.ptr() + i * N * D, N, D);
    } else {
      out.embedding = CopyFloats(last.ptr() + i * N * D, D);
    }
    if (in.l2_normalize) L2Normalize(out.embedding);
    if (in.with_last_hidden_state) out.last_hidden_state = CopyFloats(last.ptr() + i * N * D, N * D);
    for (int layer : in.layers) {
      const Tensor& hidden = RequireOutput(outputs, "hidden_states." + std::to_string(layer)).values;
      const float* tokens = hidden.ptr() + i * N * D;
      LayerTokens t;
      t.layer = layer;
      if (in.include_cls) t.cls = CopyFloats(tokens, D);
      if (in.include_mean) t.mean = MeanOfPatchTokens(tokens, N, D);
      if (in.include_patches) t.patches = CopyFloats(tokens + D, (N - 1) * D);
      out.layers.push_back(std::move(t));
    }
    results.push_back(std::move(out));
  }
  return results;
}

std::vector<absl::StatusOr<PredictTokensOutput>> RunPredictTokensBatch(const ModelRunner& model,
                                                                        std::vector<PredictTokensInput>& batch) {
  RunInputs inputs;
  inputs.pixel_values = StackPixels(batch);
  std::vector<uint8_t> masks;
  for (const PredictTokensInput& in : batch) masks.insert(masks.end(), in.mask.begin(), in.mask.end());
  inputs.bool_masked_pos = std::move(masks);
  const std::vector<NamedOutput> outputs = model.Run(inputs, RunOptions{});
  const Tensor& logits = RequireOutput(outputs, "logits").values;  // [B, num_patches, vocab]
  const int64_t P = logits.dim(1);
  const int vocab = static_cast<int>(logits.dim(2));
  std::vector<absl::StatusOr<PredictTokensOutput>> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    PredictTokensOutput out;
    for (int64_t p = 0; p < P; ++p) {
      if (!batch[i].mask[p]) continue;
      MaskedPatchPrediction patch;
      patch.patch_index = static_cast<int>(p);
      for (const auto& [token, prob] : TopKSoftmax(logits.ptr() + (i * P + p) * vocab, vocab, batch[i].top_k)) {
        patch.predictions.push_back(TokenScore{token, prob});
      }
      out.patches.push_back(std::move(patch));
    }
    out.mask = batch[i].mask;
    if (batch[i].with_logits) out.logits = CopyFloats(logits.ptr() + i * P * vocab, P * vocab);
    results.push_back(std::move(out));
  }
  return results;
}

std::vector<absl::StatusOr<ExplainOutput>> RunExplainBatch(const ModelRunner& model, std::vector<ExplainInput>& batch) {
  RunInputs inputs;
  inputs.pixel_values = StackPixels(batch);
  std::vector<ExplanationRequest> requests;
  for (const ExplainInput& in : batch) requests.push_back(in.explanation);
  // Made at the first layer, when the token count of this input is known.
  std::optional<AttentionExplainer> explainer;
  RunOptions options;
  options.attention_observer = [&](int layer, const float* probs, int64_t b, int64_t heads, int64_t tokens) {
    if (!explainer) explainer.emplace(b, heads, tokens, model.config().num_hidden_layers, requests);
    explainer->AddLayer(layer, probs);
  };
  const std::vector<NamedOutput> outputs = model.Run(inputs, options);
  if (!explainer) throw std::runtime_error("the model reported no attention layers");
  const int64_t grid_h = batch.front().pixels.dim(2) / model.config().patch_size;
  const int64_t grid_w = batch.front().pixels.dim(3) / model.config().patch_size;
  const NamedOutput* logits = model.head() == ModelHead::kImageClassification ? &RequireOutput(outputs, "logits") : nullptr;

  std::vector<absl::StatusOr<ExplainOutput>> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    ExplainOutput out;
    out.grid_height = grid_h;
    out.grid_width = grid_w;
    out.grid = explainer->Grid(static_cast<int64_t>(i));
    out.height = batch[i].height;
    out.width = batch[i].width;
    out.map.resize(static_cast<size_t>(batch[i].height * batch[i].width));
    ResizeBilinear(out.grid.data(), 1, grid_h, grid_w, out.map.data(), batch[i].height, batch[i].width);
    if (logits) {
      const int num_labels = static_cast<int>(logits->values.dim(1));
      out.predictions = TopKClassScores(model, logits->values.ptr() + i * num_labels, num_labels, batch[i].top_k);
    }
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace beit::serving
