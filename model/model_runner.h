// A BEiT checkpoint folder loaded for inference, whatever its architecture.
//
// Contract:
// - Load(dir) reads dir/config.json and the folder's weights in any format Transformers reads
//   (checkpoint.h: safetensors, sharded safetensors, pytorch_model.bin, flax_model.msgpack;
//   `weights` forces one), builds the class named by architectures[0] (BeitModel,
//   BeitForImageClassification, BeitForMaskedImageModeling, BeitForSemanticSegmentation, and
//   Data2Vec-Vision's Data2VecVisionModel, ...ForImageClassification, ...ForSemanticSegmentation)
//   and checks every tensor it needs.
//   Unused tensors are reported in `warnings`. Any problem is a ModelError naming the file.
// - Run returns outputs named as in Transformers' output objects and the golden fixtures:
//   logits, last_hidden_state, pooler_output (BeitModel) or beit.last_hidden_state,
//   beit.pooler_output (heads), hidden_states.N / attentions.N when asked, and for segmentation
//   semantic_map.K (image K resized to target_sizes[K]), with semantic_scores when asked
//   semantic_scores.K (softmax probability of each pixel's label), and semantic_map_native. With `debug`,
//   also debug.relative_position_bias.{N|shared}, debug.features.K, debug.auxiliary_logits.
// - `attention_observer` (RunOptions), whatever the head, is called once per encoder layer, in
//   order, with that layer's attention probabilities [B, H, N, N] (the `attentions.N` values),
//   valid only during the call; it adds no outputs. For per-layer reductions (attention maps,
//   model/explain/) without materialising every layer's tensor.
// - Run is thread-safe; each call uses its own oneDNN stream.
// - `precision` (model/ops/precision.h) chooses the matmuls' arithmetic for the whole model. A
//   precision the CPU tier cannot run (cpu_tier.h) is a ModelError with one line saying which
//   CPU feature is missing and what to use instead, before anything is read; no oneDNN error
//   text reaches the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/io/beit_config.h"
#include "model/io/checkpoint.h"
#include "model/ops/precision.h"
#include "model/tensor.h"

namespace beit {

class BeitModel;
class ImageClassifier;
class MaskedImageModel;
class SemanticSegmenter;

struct RunInputs {
  Tensor pixel_values;                                  // [B, C, H, W]
  std::optional<std::vector<uint8_t>> bool_masked_pos;  // [B, num_patches], row-major
  std::optional<Tensor> head_mask;                      // [L, H] or [H]
};

struct RunOptions {
  bool hidden_states = false;
  bool attentions = false;
  bool debug = false;
  std::vector<std::pair<int64_t, int64_t>> target_sizes;  // segmentation: one (H, W) per image
  bool semantic_scores = false;  // segmentation: also semantic_scores.K (winner probability per pixel)
  // Called after each encoder layer with its probabilities [batch, heads, tokens, tokens].
  std::function<void(int layer, const float* probs, int64_t batch, int64_t heads, int64_t tokens)>
      attention_observer;
};

struct NamedOutput {
  std::string name;
  Tensor values;     // float outputs
  LabelMap labels;   // segmentation maps
  bool is_label_map = false;
};

// What a checkpoint's class puts on top of the encoder, whatever the family's class name
// (BeitForImageClassification and Data2VecVisionForImageClassification are both kImageClassification).
enum class ModelHead { kNone, kImageClassification, kMaskedImageModeling, kSemanticSegmentation };

class ModelRunner {
 public:
  static std::unique_ptr<ModelRunner> Load(const std::string& dir, std::vector<std::string>* warnings = nullptr,
                                           Precision precision = Precision::kF32,
                                           WeightsFormat weights = WeightsFormat::kAuto);
  ~ModelRunner();

  std::vector<NamedOutput> Run(const RunInputs& inputs, const RunOptions& options) const;

  const BeitConfig& config() const { return config_; }
  const std::string& architecture() const { return architecture_; }
  ModelHead head() const;
  // Whether the encoder has its pooler (pooler_output): bare BeitModel and the classifiers.
  bool has_pooler() const;
  Precision precision() const { return precision_; }

 private:
  ModelRunner() = default;
  static std::unique_ptr<ModelRunner> LoadAt(const std::string& dir, std::vector<std::string>* warnings,
                                             Precision precision, WeightsFormat weights);

  BeitConfig config_;
  std::string architecture_;
  Precision precision_ = Precision::kF32;
  std::unique_ptr<BeitModel> bare_;
  std::unique_ptr<ImageClassifier> classifier_;
  std::unique_ptr<MaskedImageModel> mim_;
  std::unique_ptr<SemanticSegmenter> segmenter_;
};

}  // namespace beit
