#include "model/explain/attention_explanation.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace beit {
namespace {

std::string ShapeText(int64_t b, int64_t h, int64_t n) {
  return "[" + std::to_string(b) + ", " + std::to_string(h) + ", " + std::to_string(n) + ", " + std::to_string(n) + "]";
}

// out [n, n] = a [n, n] · r [n, n], all row-major. i-k-j order so the innermost loop runs over
// contiguous rows of r and out (GCC vectorises it); k unrolled by 4 so each load and store of an
// out row serves four FMAs instead of one (the loop is otherwise bound by out's loads/stores).
void MatMul(const float* __restrict a, const float* __restrict r, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float* __restrict ai = a + i * n;
    float* __restrict o = out + i * n;
    std::fill(o, o + n, 0.f);
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
      const float a0 = ai[k], a1 = ai[k + 1], a2 = ai[k + 2], a3 = ai[k + 3];
      const float* __restrict r0 = r + k * n;
      const float* __restrict r1 = r0 + n;
      const float* __restrict r2 = r1 + n;
      const float* __restrict r3 = r2 + n;
      for (int64_t j = 0; j < n; ++j) o[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j];
    }
    for (; k < n; ++k) {
      const float a0 = ai[k];
      const float* __restrict r0 = r + k * n;
      for (int64_t j = 0; j < n; ++j) o[j] += a0 * r0[j];
    }
  }
}

// out [n] = u [n] · r [n, n].
void VecMat(const float* __restrict u, const float* __restrict r, float* __restrict out, int64_t n) {
  std::fill(out, out + n, 0.f);
  for (int64_t k = 0; k < n; ++k) {
    const float uk = u[k];
    const float* __restrict rk = r + k * n;
    for (int64_t j = 0; j < n; ++j) out[j] += uk * rk[j];
  }
}

}  // namespace

AttentionExplainer::AttentionExplainer(int64_t batch, int64_t heads, int64_t tokens, int num_layers,
                                       std::vector<ExplanationRequest> per_image)
    : batch_(batch), heads_(heads), tokens_(tokens), num_layers_(num_layers), per_image_(std::move(per_image)) {
  if (batch_ < 1 || heads_ < 1 || tokens_ < 2 || num_layers_ < 1) {
    throw std::invalid_argument("attention explanation: need batch >= 1, heads >= 1, tokens >= 2 (CLS and a patch) "
                                "and layers >= 1; got batch " + std::to_string(batch_) + ", heads " +
                                std::to_string(heads_) + ", tokens " + std::to_string(tokens_) + ", layers " +
                                std::to_string(num_layers_));
  }
  if (static_cast<int64_t>(per_image_.size()) != batch_) {
    throw std::invalid_argument("attention explanation: " + std::to_string(per_image_.size()) +
                                " requests for a batch of " + std::to_string(batch_) + " images; give one per image");
  }
  const int64_t N = tokens_;
  bool any_rollout = false;
  for (size_t b = 0; b < per_image_.size(); ++b) {
    const ExplanationRequest& r = per_image_[b];
    const std::string who = "attention explanation of image " + std::to_string(b) + ": ";
    if (r.method != AttentionMethod::kRollout && r.method != AttentionMethod::kLastLayer) {
      throw std::invalid_argument(who + "unknown method " + std::to_string(static_cast<int>(r.method)));
    }
    if (r.query != AttentionQuery::kCls && r.query != AttentionQuery::kMeanPatches) {
      throw std::invalid_argument(who + "unknown query " + std::to_string(static_cast<int>(r.query)));
    }
    if (r.head < -1 || r.head >= heads_) {
      throw std::invalid_argument(who + "head " + std::to_string(r.head) + " is out of range; the model has " +
                                  std::to_string(heads_) + " heads (0.." + std::to_string(heads_ - 1) +
                                  ", or -1 for their mean)");
    }
    if (r.head >= 0 && r.method == AttentionMethod::kRollout) {
      throw std::invalid_argument(who + "a single head (" + std::to_string(r.head) +
                                  ") applies to the last-layer method only; rollout averages the heads (head -1)");
    }
    any_rollout = any_rollout || r.method == AttentionMethod::kRollout;
  }
  rollout_.resize(batch_);
  maps_.resize(batch_);
  if (any_rollout) {
    hat_.resize(N * N);
    if (num_layers_ > 2) product_.resize(N * N);  // only the middle layers multiply full matrices
  }
  row_.resize(2 * N);
}

void AttentionExplainer::Observe(int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens) {
  if (batch != batch_ || heads != heads_ || tokens != tokens_) {
    throw std::invalid_argument("attention explanation: layer " + std::to_string(layer) + " probabilities are " +
                                ShapeText(batch, heads, tokens) + ", expected " + ShapeText(batch_, heads_, tokens_));
  }
  AddLayer(layer, probs);
}

void AttentionExplainer::RolloutMatrix(int64_t b, const float* probs) {
  const int64_t N = tokens_, NN = N * N;
  const float* p = probs + b * heads_ * NN;
  float* __restrict hat = hat_.data();
  std::copy(p, p + NN, hat);
  for (int64_t h = 1; h < heads_; ++h) {
    const float* __restrict ph = p + h * NN;
    for (int64_t i = 0; i < NN; ++i) hat[i] += ph[i];
  }
  const float half_mean = 0.5f / static_cast<float>(heads_);
  for (int64_t i = 0; i < N; ++i) {
    float* __restrict row = hat + i * N;
    float sum = 0.f;
    for (int64_t j = 0; j < N; ++j) {
      row[j] *= half_mean;
      sum += row[j];
    }
    row[i] += 0.5f;
    sum += 0.5f;
    // Softmax rows sum to 1 already; a head_mask can make them sum to less.
    const float inv = 1.f / sum;
    for (int64_t j = 0; j < N; ++j) row[j] *= inv;
  }
}

void AttentionExplainer::QueryRow(const float* m, AttentionQuery query, float* out) const {
  const int64_t N = tokens_;
  if (query == AttentionQuery::kCls) {
    std::copy(m, m + N, out);
    return;
  }
  std::fill(out, out + N, 0.f);
  for (int64_t i = 1; i < N; ++i) {
    const float* __restrict row = m + i * N;
    for (int64_t j = 0; j < N; ++j) out[j] += row[j];
  }
  const float inv = 1.f / static_cast<float>(N - 1);
  for (int64_t j = 0; j < N; ++j) out[j] *= inv;
}

void AttentionExplainer::Finish(int64_t b, const float* patch_values) {
  const int64_t P = tokens_ - 1;
  std::vector<float>& map = maps_[b];
  map.assign(patch_values, patch_values + P);
  const float max = *std::max_element(map.begin(), map.end());
  // The maps are non-negative (probabilities and their products), so "max not positive" means
  // all zeros.
  if (!(max > 0.f)) {
    std::fill(map.begin(), map.end(), 0.f);
    return;
  }
  for (float& v : map) v /= max;
}

void AttentionExplainer::AddLayer(int layer, const float* probs) {
  if (layer != next_layer_ || next_layer_ >= num_layers_) {
    throw std::invalid_argument("attention explanation: got layer " + std::to_string(layer) + ", expected " +
                                (next_layer_ < num_layers_ ? "layer " + std::to_string(next_layer_)
                                                           : "none (all " + std::to_string(num_layers_) +
                                                                 " layers were given)"));
  }
  if (!probs) throw std::invalid_argument("attention explanation: layer " + std::to_string(layer) + " has no data");
  const int64_t N = tokens_, NN = N * N;
  const bool first = layer == 0, last = layer == num_layers_ - 1;
  for (int64_t b = 0; b < batch_; ++b) {
    const ExplanationRequest& req = per_image_[b];
    if (req.method == AttentionMethod::kRollout) {
      RolloutMatrix(b, probs);
      std::vector<float>& r = rollout_[b];
      if (last) {
        // Only the query row of R_L = Â_L R_{L-1} is needed: a vector times R, not a full product.
        float* u = row_.data();
        float* v = row_.data() + N;
        QueryRow(hat_.data(), req.query, u);
        if (first) {
          Finish(b, u + 1);
        } else {
          VecMat(u, r.data(), v, N);
          Finish(b, v + 1);
        }
        std::vector<float>().swap(r);
      } else if (first) {
        r = hat_;  // R_1 = Â_1
      } else {
        MatMul(hat_.data(), r.data(), product_.data(), N);
        r.swap(product_);
      }
    } else if (last) {
      // Mean over the chosen heads of the query row (or of the mean of the patch rows).
      const float* p = probs + b * heads_ * NN;
      const int64_t h0 = req.head < 0 ? 0 : req.head, h1 = req.head < 0 ? heads_ : req.head + 1;
      float* u = row_.data();
      float* tmp = row_.data() + N;
      std::fill(u, u + N, 0.f);
      for (int64_t h = h0; h < h1; ++h) {
        QueryRow(p + h * NN, req.query, tmp);
        for (int64_t j = 0; j < N; ++j) u[j] += tmp[j];
      }
      const float inv = 1.f / static_cast<float>(h1 - h0);
      for (int64_t j = 0; j < N; ++j) u[j] *= inv;
      Finish(b, u + 1);
    }
  }
  ++next_layer_;
}

std::vector<float> AttentionExplainer::Grid(int64_t image) const {
  if (image < 0 || image >= batch_) {
    throw std::out_of_range("attention explanation: image " + std::to_string(image) + " of a batch of " +
                            std::to_string(batch_));
  }
  if (!complete()) {
    throw std::logic_error("attention explanation: the map needs all " + std::to_string(num_layers_) +
                           " layers; got " + std::to_string(next_layer_));
  }
  return maps_[image];
}

}  // namespace beit
