// What the service knows of a hosted model without the model itself: its tasks, sizes, labels;
// and an image made ready for it. Plain data, shared by request validation, hosting and metrics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tensor.h"

namespace beit::serving {

enum class Task { kClassify, kSegment, kEmbed, kPredictTokens, kExplain };
const char* TaskName(Task task);  // the RPC's name, e.g. "Classify"

struct ModelDescription {
  std::string name, path, architecture, pooling;
  int64_t version = 1;  // the repository's version number (1 for --model)
  bool has_pooler = false;  // the backbone ends in a pooler (pooler_output exists)
  std::vector<Task> tasks;
  int image_height = 0, image_width = 0, patch_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0;
  std::vector<std::string> labels;  // classification and segmentation heads
  int vocab_size = 0;               // masked image modeling
  double load_seconds = 0;
  std::string precision = "f32";
  std::string cpu_tier;  // what the engine computes at here (model/ops/cpu_tier.h), e.g. "avx2"
  int grid_height() const { return image_height / patch_size; }
  int grid_width() const { return image_width / patch_size; }
};

struct PreparedImage {
  Tensor pixels;  // [1, 3, H, W]
  int64_t original_height = 0, original_width = 0;
};

}  // namespace beit::serving
