#include "server/core/blockwise_mask.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace beit::serving {
namespace {

constexpr int kMinBlockPatches = 4;
constexpr double kMinAspect = 0.3;
constexpr int kAttemptsPerBlock = 10;

// One block placement as BEiT's MaskingGenerator._mask; returns how many patches it newly masked.
int PlaceBlock(std::vector<uint8_t>& mask, int H, int W, int max_new, std::mt19937_64& rng) {
  const double log_min = std::log(kMinAspect), log_max = std::log(1.0 / kMinAspect);
  const double min_area = std::min(kMinBlockPatches, max_new);
  for (int attempt = 0; attempt < kAttemptsPerBlock; ++attempt) {
    const double area = std::uniform_real_distribution<double>(min_area, max_new)(rng);
    const double aspect = std::exp(std::uniform_real_distribution<double>(log_min, log_max)(rng));
    const int h = static_cast<int>(std::lround(std::sqrt(area * aspect)));
    const int w = static_cast<int>(std::lround(std::sqrt(area / aspect)));
    if (h < 1 || w < 1 || h >= H || w >= W) continue;
    const int top = std::uniform_int_distribution<int>(0, H - h)(rng);
    const int left = std::uniform_int_distribution<int>(0, W - w)(rng);
    int already = 0;
    for (int i = top; i < top + h; ++i) {
      for (int j = left; j < left + w; ++j) already += mask[i * W + j];
    }
    const int fresh = h * w - already;
    if (fresh <= 0 || fresh > max_new) continue;
    for (int i = top; i < top + h; ++i) {
      for (int j = left; j < left + w; ++j) mask[i * W + j] = 1;
    }
    return fresh;
  }
  return 0;
}

}  // namespace

std::vector<uint8_t> BlockwiseMask(int grid_height, int grid_width, int num_masked, uint64_t seed) {
  const int total = std::max(0, grid_height) * std::max(0, grid_width);
  std::vector<uint8_t> mask(total, 0);
  int target = std::clamp(num_masked, 0, total);
  std::mt19937_64 rng(seed);
  int count = 0;
  while (count < target) {
    const int added = PlaceBlock(mask, grid_height, grid_width, target - count, rng);
    if (added == 0) break;
    count += added;
  }
  if (count < target) {  // blocks no longer fit: single patches, uniformly among the unmasked
    std::vector<int> free_patches;
    for (int p = 0; p < total; ++p) {
      if (!mask[p]) free_patches.push_back(p);
    }
    std::shuffle(free_patches.begin(), free_patches.end(), rng);
    for (int i = 0; i < target - count; ++i) mask[free_patches[i]] = 1;
  }
  return mask;
}

}  // namespace beit::serving
