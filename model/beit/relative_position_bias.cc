#include "model/beit/relative_position_bias.h"

#include <vector>

#include "model/ops/interpolate.h"

namespace beit {

RelativePositionBias::RelativePositionBias(Tensor table, int64_t window_h, int64_t window_w, int64_t heads)
    : table_(std::move(table)), window_h_(window_h), window_w_(window_w), heads_(heads) {}

const Tensor& RelativePositionBias::ForWindow(int64_t wh, int64_t ww) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = cache_[{wh, ww}];
  if (!slot) slot = std::make_unique<Tensor>(Compute(wh, ww));
  return *slot;
}

Tensor RelativePositionBias::Compute(int64_t wh, int64_t ww) const {
  const int64_t H = heads_;
  const int64_t old_h = 2 * window_h_ - 1, old_w = 2 * window_w_ - 1;
  const int64_t new_h = 2 * wh - 1, new_w = 2 * ww - 1;
  const int64_t old_spatial = old_h * old_w, new_spatial = new_h * new_w;

  // Transformers reshapes the spatial rows as (old_width, old_height) before treating them as an
  // image of `old_width` rows; keep that order so non-square windows match too.
  std::vector<float> planes(H * old_spatial);
  for (int64_t r = 0; r < old_spatial; ++r) {
    for (int64_t h = 0; h < H; ++h) planes[h * old_spatial + r] = table_.data[r * H + h];
  }
  std::vector<float> resized(H * new_spatial);
  ResizeBilinear(planes.data(), H, old_w, old_h, resized.data(), new_h, new_w);

  // New table [new_spatial + 3, H].
  std::vector<float> table((new_spatial + 3) * H);
  for (int64_t r = 0; r < new_spatial; ++r) {
    for (int64_t h = 0; h < H; ++h) table[r * H + h] = resized[h * new_spatial + r];
  }
  for (int64_t k = 0; k < 3; ++k) {
    for (int64_t h = 0; h < H; ++h) table[(new_spatial + k) * H + h] = table_.data[(old_spatial + k) * H + h];
  }

  const int64_t area = wh * ww, N = area + 1;
  Tensor bias({H, N, N});
  auto index = [&](int64_t i, int64_t j) -> int64_t {
    if (i == 0 && j == 0) return new_spatial + 2;
    if (i == 0) return new_spatial;      // CLS to token
    if (j == 0) return new_spatial + 1;  // token to CLS
    const int64_t yi = (i - 1) / ww, xi = (i - 1) % ww, yj = (j - 1) / ww, xj = (j - 1) % ww;
    return (yi - yj + wh - 1) * (2 * ww - 1) + (xi - xj + ww - 1);
  };
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const float* row = table.data() + index(i, j) * H;
      for (int64_t h = 0; h < H; ++h) bias.data[(h * N + i) * N + j] = row[h];
    }
  }
  return bias;
}

}  // namespace beit
