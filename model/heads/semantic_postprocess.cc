#include "model/heads/semantic_postprocess.h"

#include <cmath>
#include <vector>

#include "model/ops/interpolate.h"
#include "model/model_error.h"

namespace beit {
namespace {

// planes [K, n] -> argmax over K for each of the n positions.
void ArgmaxOverPlanes(const float* planes, int64_t K, int64_t n, int32_t* out) {
  for (int64_t p = 0; p < n; ++p) {
    int32_t best = 0;
    float best_value = planes[p];
    for (int64_t k = 1; k < K; ++k) {
      const float v = planes[k * n + p];
      if (v > best_value) {
        best_value = v;
        best = static_cast<int32_t>(k);
      }
    }
    out[p] = best;
  }
}

// planes [K, n], winners from ArgmaxOverPlanes -> softmax probability of the winner per position.
void WinnerProbabilities(const float* planes, int64_t K, int64_t n, const int32_t* winners, float* out) {
  for (int64_t p = 0; p < n; ++p) {
    const float top = planes[winners[p] * n + p];
    double sum = 0.0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(planes[k * n + p]) - top);
    out[p] = static_cast<float>(1.0 / sum);
  }
}

}  // namespace

LabelMap SemanticMapAtSize(const Tensor& logits, int64_t index, int64_t height, int64_t width) {
  return PredictSemanticAtSize(logits, index, height, width, /*with_scores=*/false).map;
}

SemanticPrediction PredictSemanticAtSize(const Tensor& logits, int64_t index, int64_t height, int64_t width,
                                         bool with_scores) {
  if (logits.shape.size() != 4 || index < 0 || index >= logits.dim(0)) {
    throw ModelError("post-processing: no image " + std::to_string(index) + " in logits " + ShapeToString(logits.shape));
  }
  if (height < 1 || width < 1) throw ModelError("post-processing: target size must be positive");
  const int64_t K = logits.dim(1), h = logits.dim(2), w = logits.dim(3);
  std::vector<float> resized(K * height * width);
  ResizeBilinear(logits.ptr() + index * K * h * w, K, h, w, resized.data(), height, width);
  SemanticPrediction out;
  out.map = LabelMap({height, width});
  ArgmaxOverPlanes(resized.data(), K, height * width, out.map.ptr());
  if (with_scores) {
    out.scores = Tensor({height, width});
    WinnerProbabilities(resized.data(), K, height * width, out.map.ptr(), out.scores.ptr());
  }
  return out;
}

LabelMap SemanticMapsNative(const Tensor& logits) {
  const int64_t B = logits.dim(0), K = logits.dim(1), h = logits.dim(2), w = logits.dim(3);
  LabelMap maps({B, h, w});
  for (int64_t b = 0; b < B; ++b) ArgmaxOverPlanes(logits.ptr() + b * K * h * w, K, h * w, maps.ptr() + b * h * w);
  return maps;
}

}  // namespace beit
