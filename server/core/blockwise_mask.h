// BEiT's blockwise masking (the pre-training mask generator), for PredictTokens' mask_ratio.
//
// Contract:
// - BlockwiseMask(grid_h, grid_w, num_masked, seed) returns grid_h * grid_w flags (row-major),
//   exactly `num_masked` of them set (clamped to the grid).
// - It places rectangular blocks as BEiT does: target area uniform in [min(4, remaining),
//   remaining], log-uniform aspect ratio in [0.3, 1/0.3], each block adding only new patches and no
//   more than remaining; 10 failed placements end the block phase. Small grids where blocks no
//   longer fit are topped up with single random patches so the count is always exact.
// - Deterministic for a seed on a given build (std::mt19937_64); it does not reproduce Python's
//   `random` streams.
#pragma once

#include <cstdint>
#include <vector>

namespace beit::serving {

std::vector<uint8_t> BlockwiseMask(int grid_height, int grid_width, int num_masked, uint64_t seed);

}  // namespace beit::serving
