#include "server/core/request_validation.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "server/core/blockwise_mask.h"

namespace beit::serving {
namespace {

constexpr int kDefaultTopK = 5;
constexpr int64_t kMaxOutputSide = 16384;
constexpr int64_t kMaxOutputPixels = 40'000'000;

absl::StatusOr<int> CheckTopK(int top_k, int available) {
  if (top_k < 0) return absl::InvalidArgumentError("top_k must be >= 0 (0 means " + std::to_string(kDefaultTopK) + ")");
  if (top_k == 0) top_k = kDefaultTopK;
  return std::min(top_k, available);
}

// output_height x output_width, or the original size for 0 x 0 (Segment, Explain).
absl::StatusOr<std::pair<int64_t, int64_t>> OutputSize(int64_t h, int64_t w, const PreparedImage& image) {
  if ((h == 0) != (w == 0)) {
    return absl::InvalidArgumentError("set both output_height and output_width, or neither (original size)");
  }
  if (h == 0) {
    h = image.original_height;
    w = image.original_width;
  }
  if (h < 0 || w < 0 || h > kMaxOutputSide || w > kMaxOutputSide || h * w > kMaxOutputPixels) {
    return absl::InvalidArgumentError("output size " + std::to_string(h) + "x" + std::to_string(w) +
                                      " is out of range (1.." + std::to_string(kMaxOutputSide) + " per side, at most " +
                                      std::to_string(kMaxOutputPixels) + " pixels)");
  }
  return std::make_pair(h, w);
}

}  // namespace

absl::StatusOr<PreparedImage> ValidatePixelValues(const ModelDescription& description, const std::vector<int64_t>& shape,
                                                 const float* data, size_t count) {
  const int64_t H = description.image_height, W = description.image_width;
  const std::string expected = "[3, " + std::to_string(H) + ", " + std::to_string(W) + "] or [1, 3, " +
                               std::to_string(H) + ", " + std::to_string(W) + "]";
  Shape full = shape;
  if (full.size() == 3) full.insert(full.begin(), 1);
  if (full != Shape{1, 3, H, W}) {
    return absl::InvalidArgumentError("image.pixel_values: shape " + ShapeToString(shape) + " does not fit model '" +
                                      description.name + "'; expected " + expected);
  }
  if (count != static_cast<size_t>(3 * H * W)) {
    return absl::InvalidArgumentError("image.pixel_values: shape " + ShapeToString(shape) + " needs " +
                                      std::to_string(3 * H * W) + " values, got " + std::to_string(count));
  }
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(data[i])) {
      return absl::InvalidArgumentError("image.pixel_values: value " + std::to_string(i) + " is not finite");
    }
  }
  PreparedImage out;
  out.pixels = Tensor(full, std::vector<float>(data, data + count));
  out.original_height = H;
  out.original_width = W;
  return out;
}

absl::StatusOr<ClassifyInput> MakeClassifyInput(const ModelDescription& model, const ClassifyParams& params,
                                                PreparedImage image) {
  absl::StatusOr<int> k = CheckTopK(params.top_k, static_cast<int>(model.labels.size()));
  if (!k.ok()) return k.status();
  return ClassifyInput{std::move(image.pixels), params.with_predictions ? *k : 0, params.with_logits};
}

absl::StatusOr<SegmentInput> MakeSegmentInput(const ModelDescription&, const SegmentParams& params,
                                              PreparedImage image) {
  absl::StatusOr<std::pair<int64_t, int64_t>> size = OutputSize(params.output_height, params.output_width, image);
  if (!size.ok()) return size.status();
  return SegmentInput{std::move(image.pixels), size->first, size->second, params.with_scores, params.with_logits};
}

absl::StatusOr<EmbedInput> MakeEmbedInput(const ModelDescription& model, const EmbedParams& params,
                                          PreparedImage image) {
  const int num_layers = model.num_layers;
  EmbedInput in;
  in.pixels = std::move(image.pixels);
  in.l2_normalize = params.l2_normalize;
  in.include_cls = params.include_cls;
  in.include_mean = params.include_mean;
  in.include_patches = params.include_patches;
  in.with_last_hidden_state = params.with_last_hidden_state;
  for (int layer : params.layers) {
    if (layer < 0 || layer > num_layers) {
      return absl::InvalidArgumentError("layers: " + std::to_string(layer) + " is out of range; model '" +
                                        model.name + "' has layers 0 (embeddings) to " +
                                        std::to_string(num_layers));
    }
    in.layers.push_back(layer);
  }
  if (!in.layers.empty() && !in.include_cls && !in.include_mean && !in.include_patches) {
    return absl::InvalidArgumentError("layers given but no tokens chosen: set include_cls, include_mean or "
                                      "include_patches");
  }
  return in;
}

absl::StatusOr<PredictTokensInput> MakePredictTokensInput(const ModelDescription& model,
                                                          const PredictTokensParams& params,
                                                          const std::vector<uint8_t>& mask, PreparedImage image) {
  const ModelDescription& d = model;
  const int num_patches = d.grid_height() * d.grid_width();
  absl::StatusOr<int> k = CheckTopK(params.top_k, d.vocab_size);
  if (!k.ok()) return k.status();
  PredictTokensInput in;
  in.pixels = std::move(image.pixels);
  in.top_k = *k;
  in.with_logits = params.with_logits;
  if (!mask.empty()) {
    if (params.mask_ratio != 0.f) {
      return absl::InvalidArgumentError("give either mask or mask_ratio, not both");
    }
    if (mask.size() != static_cast<size_t>(num_patches)) {
      return absl::InvalidArgumentError("mask has " + std::to_string(mask.size()) + " entries; model '" + d.name +
                                        "' has " + std::to_string(num_patches) + " patches (" +
                                        std::to_string(d.grid_height()) + "x" + std::to_string(d.grid_width()) +
                                        ", row-major)");
    }
    in.mask = mask;
  } else {
    const float ratio = params.mask_ratio;
    if (!(ratio > 0.f && ratio <= 1.f)) {
      return absl::InvalidArgumentError("give a mask (one bool per patch) or a mask_ratio in (0, 1]");
    }
    const int count = std::max(1, static_cast<int>(std::lround(ratio * num_patches)));
    in.mask = BlockwiseMask(d.grid_height(), d.grid_width(), count, params.seed);
  }
  if (std::none_of(in.mask.begin(), in.mask.end(), [](uint8_t m) { return m != 0; })) {
    return absl::InvalidArgumentError("the mask masks no patch; nothing to predict");
  }
  return in;
}

absl::StatusOr<ExplainInput> MakeExplainInput(const ModelDescription& model, const ExplainParams& params,
                                              PreparedImage image) {
  ExplainInput in;
  in.explanation.method = params.method;
  in.explanation.query = params.query.value_or(model.pooling == "cls" ? AttentionQuery::kCls
                                                                     : AttentionQuery::kMeanPatches);
  if (params.head.has_value()) {
    if (in.explanation.method != AttentionMethod::kLastLayer) {
      return absl::InvalidArgumentError("head applies to method LAST_LAYER; ATTENTION_ROLLOUT averages the heads");
    }
    if (*params.head < 0 || *params.head >= model.num_heads) {
      return absl::InvalidArgumentError("head " + std::to_string(*params.head) + " is out of range: model '" +
                                        model.name + "' has heads 0.." + std::to_string(model.num_heads - 1));
    }
    in.explanation.head = *params.head;
  }
  absl::StatusOr<std::pair<int64_t, int64_t>> size = OutputSize(params.output_height, params.output_width, image);
  if (!size.ok()) return size.status();
  std::tie(in.height, in.width) = *size;
  if (!model.labels.empty()) {
    absl::StatusOr<int> k = CheckTopK(params.top_k, static_cast<int>(model.labels.size()));
    if (!k.ok()) return k.status();
    in.top_k = *k;
  }
  in.pixels = std::move(image.pixels);
  return in;
}

}  // namespace beit::serving
