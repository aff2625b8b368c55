// A plain-loop implementation of the core of Transformers' BeitSelfAttention, in double
// accumulation, shared by the attention tests: for qkv [B, N, 3C] (Q | K | V, C = H*d),
// P = softmax(scale * Q K^T + bias) * head_mask[h] and context = P V, heads concatenated. With
// `bf16_probs` the context multiplies V by P rounded to bf16, as the bf16 kernels do (the
// returned probabilities stay f32).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/ops/activation_buffer.h"

namespace beit {

struct AttentionReference {
  std::vector<float> probs;    // [B, H, N, N]
  std::vector<float> context;  // [B, N, C]
};

inline AttentionReference NaiveAttention(const std::vector<float>& qkv, int64_t batch, int64_t tokens, int64_t heads,
                                         int64_t head_dim, float scale, const float* bias, const float* head_mask,
                                         bool bf16_probs = false) {
  const int64_t B = batch, N = tokens, H = heads, d = head_dim, C = H * d;
  AttentionReference r{std::vector<float>(B * H * N * N), std::vector<float>(B * N * C)};
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t n = 0; n < N; ++n) {
        float* p = &r.probs[((b * H + h) * N + n) * N];
        for (int64_t m = 0; m < N; ++m) {
          double s = 0;
          for (int64_t j = 0; j < d; ++j) s += double(qkv[(b * N + n) * 3 * C + h * d + j]) * qkv[(b * N + m) * 3 * C + C + h * d + j];
          p[m] = float(s) * scale + (bias ? bias[(h * N + n) * N + m] : 0.f);
        }
        const float top = *std::max_element(p, p + N);
        double sum = 0;
        for (int64_t m = 0; m < N; ++m) sum += p[m] = std::exp(p[m] - top);
        for (int64_t m = 0; m < N; ++m) p[m] = float(p[m] / sum) * (head_mask ? head_mask[h] : 1.f);
        std::vector<float> weights(p, p + N);
        if (bf16_probs) {
          std::vector<uint16_t> rounded(N);
          RoundToBf16(p, N, rounded.data());
          for (int64_t m = 0; m < N; ++m) weights[m] = Bf16ToFloat(rounded[m]);
        }
        for (int64_t j = 0; j < d; ++j) {
          double c = 0;
          for (int64_t m = 0; m < N; ++m) c += double(weights[m]) * qkv[(b * N + m) * 3 * C + 2 * C + h * d + j];
          r.context[(b * N + n) * C + h * d + j] = float(c);
        }
      }
    }
  }
  return r;
}

}  // namespace beit
