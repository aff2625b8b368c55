// BeitEmbeddings: patch projection, optional absolute position embeddings, mask token, CLS token.
//
// Contract:
// - Forward takes pixel_values [B, num_channels, H, W] (H, W >= patch_size; any size, as
//   Transformers' strided convolution floors H/p, W/p) and writes [B, 1 + h*w, C] tokens.
// - Absolute position embeddings are bicubically resized (align_corners=False) from the
//   checkpoint's grid to h x w when they differ, and added to every patch token after masking
//   (a masked patch gets mask token + its position, as Transformers 5 computes; DiT's pre-training
//   checkpoints are exactly this case); the CLS token gets position 0. The resized table is
//   cached per grid size.
// - bool_masked_pos [B, h*w] (nonzero = masked) replaces those patch tokens by the mask token; it
//   requires a checkpoint with use_mask_token.
// - Bad shapes are ModelErrors that say what was expected.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/beit_config.h"
#include "model/io/checkpoint.h"
#include "model/ops/linear.h"
#include "model/tensor.h"

namespace beit {

class BeitEmbeddings {
 public:
  BeitEmbeddings(const BeitConfig& config, Checkpoint& checkpoint);

  // Returns the patch grid (h, w); `tokens` is resized to B * (1 + h*w) * C.
  std::pair<int64_t, int64_t> Forward(dnnl::stream& stream, const Tensor& pixel_values,
                                      const std::vector<uint8_t>* bool_masked_pos,
                                      std::vector<float>& tokens) const;

 private:
  const Tensor& PatchPositions(int64_t h, int64_t w) const;  // [h*w, C]

  int64_t channels_, patch_, hidden_, grid_h_, grid_w_;
  Linear projection_;  // the patch Conv2d as a matmul over flattened patches
  Tensor cls_token_;
  Tensor mask_token_;  // empty without use_mask_token
  Tensor cls_position_;  // [C] or empty
  Tensor patch_positions_;  // [grid_h*grid_w, C] or empty
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Tensor>> resized_positions_;
};

}  // namespace beit
