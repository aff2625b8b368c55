// BeitConfig as Transformers defines it, parsed from a checkpoint's config.json.
//
// Contract:
// - Every BeitConfig field is read, with Transformers' default when absent; unknown fields are
//   ignored (Hub configs carry many generic PretrainedConfig keys).
// - A present field of the wrong JSON type or an invalid value is a ModelError naming the field,
//   e.g. "config.json: field 'hidden_size' must be a positive integer (got -3)".
// - num_labels follows Transformers: the size of id2label when given, else `num_labels`, else 2.
// - out_indices follows BackboneConfigMixin: absent => [num_hidden_layers]; the legacy key
//   `segmentation_indices` is accepted as a synonym.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace beit {

struct BeitConfig {
  std::string model_type = "beit";             // or "data2vec-vision": the same architecture
  std::vector<std::string> architectures;
  int vocab_size = 8192;
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  std::string hidden_act = "gelu";
  float hidden_dropout_prob = 0.0f;            // inference ignores dropout; parsed for validation
  float attention_probs_dropout_prob = 0.0f;
  float initializer_range = 0.02f;
  float layer_norm_eps = 1e-12f;
  int image_height = 224;                      // `image_size` may be an int or [h, w]
  int image_width = 224;
  int patch_size = 16;
  int num_channels = 3;
  bool use_mask_token = false;
  bool use_absolute_position_embeddings = false;
  bool use_relative_position_bias = false;
  bool use_shared_relative_position_bias = false;
  float layer_scale_init_value = 0.1f;
  float drop_path_rate = 0.1f;
  bool use_mean_pooling = true;
  std::vector<int> pool_scales = {1, 2, 3, 6};
  bool use_auxiliary_head = true;
  float auxiliary_loss_weight = 0.4f;
  int auxiliary_channels = 256;
  int auxiliary_num_convs = 1;
  bool auxiliary_concat_input = false;
  int semantic_loss_ignore_index = 255;
  std::vector<int> out_indices;                // filled with [num_hidden_layers] when absent
  bool add_fpn = false;
  bool reshape_hidden_states = true;
  int num_labels = 2;
  std::map<int, std::string> id2label;         // always num_labels entries (LABEL_i when absent)

  // Derived.
  int head_dim() const { return hidden_size / num_attention_heads; }
  int patch_grid_height() const { return image_height / patch_size; }
  int patch_grid_width() const { return image_width / patch_size; }
  bool layer_scale() const { return layer_scale_init_value > 0.0f; }
  // Floating-point operations for one image through the patch embedding and the encoder's
  // matmuls (2 per multiply-add: projections, attention products, MLP), in GFLOP: BEiT-base/224
  // is about 35.
  double gflops_per_image() const;
  // architectures[0], or the bare model ("BeitModel", "Data2VecVisionModel") when the list is
  // absent or empty.
  std::string architecture() const;
};

// Parses config.json text. `source` names the file in error messages.
BeitConfig ParseBeitConfig(const std::string& json_text, const std::string& source = "config.json");
BeitConfig LoadBeitConfig(const std::string& path);

// hidden_act values the engine implements (Transformers' ACT2FN names).
bool IsSupportedActivation(const std::string& name);

}  // namespace beit
