#include "server/core/blockwise_mask.h"

#include <gtest/gtest.h>

#include <numeric>

namespace beit::serving {
namespace {

int Count(const std::vector<uint8_t>& mask) { return std::accumulate(mask.begin(), mask.end(), 0); }

TEST(BlockwiseMask, MasksExactlyTheRequestedNumberOfPatches) {
  for (int n : {1, 5, 30, 75, 118, 196}) {
    const std::vector<uint8_t> mask = BlockwiseMask(14, 14, n, 42);
    ASSERT_EQ(mask.size(), 196u);
    EXPECT_EQ(Count(mask), n) << n;
  }
  EXPECT_EQ(Count(BlockwiseMask(2, 2, 3, 1)), 3);  // blocks cannot fit: single patches
  EXPECT_EQ(Count(BlockwiseMask(4, 4, 99, 1)), 16);  // clamped to the grid
  EXPECT_EQ(Count(BlockwiseMask(4, 4, -3, 1)), 0);
}

TEST(BlockwiseMask, IsDeterministicPerSeed) {
  EXPECT_EQ(BlockwiseMask(14, 14, 75, 7), BlockwiseMask(14, 14, 75, 7));
  EXPECT_NE(BlockwiseMask(14, 14, 75, 7), BlockwiseMask(14, 14, 75, 8));
}

TEST(BlockwiseMask, MasksBlocksNotScatteredPatches) {
  // BEiT's masks are unions of rectangles: most masked patches have a masked 4-neighbour.
  const int H = 14, W = 14;
  const std::vector<uint8_t> mask = BlockwiseMask(H, W, 75, 3);
  int with_neighbour = 0;
  for (int i = 0; i < H; ++i) {
    for (int j = 0; j < W; ++j) {
      if (!mask[i * W + j]) continue;
      const bool n = (i > 0 && mask[(i - 1) * W + j]) || (i + 1 < H && mask[(i + 1) * W + j]) ||
                     (j > 0 && mask[i * W + j - 1]) || (j + 1 < W && mask[i * W + j + 1]);
      with_neighbour += n;
    }
  }
  EXPECT_GE(with_neighbour, 70);
}

}  // namespace
}  // namespace beit::serving
