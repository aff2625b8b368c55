#include "model/io/beit_config.h"

#include <nlohmann/json.hpp>

#include "model/io/json_file.h"
#include "model/model_error.h"

namespace beit {
namespace {

using nlohmann::json;

class FieldReader {
 public:
  FieldReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  [[noreturn]] void Fail(const std::string& field, const std::string& what, const json& got) const {
    std::string shown = got.dump();
    if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
    throw ModelError(source_ + ": field '" + field + "' " + what + " (got " + shown + ")");
  }

  bool Has(const std::string& f) const { return root_.contains(f) && !root_.at(f).is_null(); }

  void Int(const std::string& f, int* out, int min_value) const {
    if (!Has(f)) return;
    const json& v = root_.at(f);
    if (!v.is_number_integer() || v.get<int64_t>() < min_value || v.get<int64_t>() > (1 << 30)) {
      Fail(f, min_value > 0 ? "must be a positive integer" : "must be a non-negative integer", v);
    }
    *out = v.get<int>();
  }

  void Float(const std::string& f, float* out, float min_value, bool exclusive_min) const {
    if (!Has(f)) return;
    const json& v = root_.at(f);
    if (!v.is_number()) Fail(f, "must be a number", v);
    double d = v.get<double>();
    if (d < min_value || (exclusive_min && d == min_value)) {
      Fail(f, std::string("must be ") + (exclusive_min ? "> " : ">= ") + std::to_string(min_value), v);
    }
    *out = static_cast<float>(d);
  }

  void Bool(const std::string& f, bool* out) const {
    if (!Has(f)) return;
    const json& v = root_.at(f);
    if (!v.is_boolean()) Fail(f, "must be true or false", v);
    *out = v.get<bool>();
  }

  void String(const std::string& f, std::string* out) const {
    if (!Has(f)) return;
    const json& v = root_.at(f);
    if (!v.is_string()) Fail(f, "must be a string", v);
    *out = v.get<std::string>();
  }

  std::vector<int> IntList(const std::string& f, int min_value) const {
    const json& v = root_.at(f);
    if (!v.is_array()) Fail(f, "must be a list of integers", v);
    std::vector<int> out;
    for (const json& e : v) {
      if (!e.is_number_integer() || e.get<int64_t>() < min_value || e.get<int64_t>() > (1 << 20)) {
        Fail(f, "must be a list of integers >= " + std::to_string(min_value), v);
      }
      out.push_back(e.get<int>());
    }
    return out;
  }

 private:
  const json& root_;
  const std::string& source_;
};

}  // namespace

std::string BeitConfig::architecture() const {
  if (!architectures.empty()) return architectures.front();
  return model_type == "data2vec-vision" ? "Data2VecVisionModel" : "BeitModel";
}

bool IsSupportedActivation(const std::string& name) {
  static const char* kNames[] = {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "quick_gelu",
                                 "relu", "selu", "silu", "swish", "mish", "tanh", "sigmoid",
                                 "linear"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

BeitConfig ParseBeitConfig(const std::string& json_text, const std::string& source) {
  const json root = ParseJsonObject(json_text, source);

  FieldReader r(root, source);
  BeitConfig c;

  if (r.Has("model_type")) {
    r.String("model_type", &c.model_type);
    if (c.model_type != "beit" && c.model_type != "data2vec-vision") {
      throw ModelError(source + ": field 'model_type' is '" + c.model_type +
                       "', but this server implements the BEiT family: 'beit' (BEiT, DiT) and 'data2vec-vision'");
    }
  }
  if (r.Has("architectures")) {
    const json& a = root.at("architectures");
    if (!a.is_array()) r.Fail("architectures", "must be a list of class names", a);
    for (const json& e : a) {
      if (!e.is_string()) r.Fail("architectures", "must be a list of class names", a);
      c.architectures.push_back(e.get<std::string>());
    }
  }

  r.Int("vocab_size", &c.vocab_size, 1);
  r.Int("hidden_size", &c.hidden_size, 1);
  r.Int("num_hidden_layers", &c.num_hidden_layers, 1);
  r.Int("num_attention_heads", &c.num_attention_heads, 1);
  r.Int("intermediate_size", &c.intermediate_size, 1);
  r.String("hidden_act", &c.hidden_act);
  r.Float("hidden_dropout_prob", &c.hidden_dropout_prob, 0.0f, false);
  r.Float("attention_probs_dropout_prob", &c.attention_probs_dropout_prob, 0.0f, false);
  r.Float("initializer_range", &c.initializer_range, 0.0f, false);
  r.Float("layer_norm_eps", &c.layer_norm_eps, 0.0f, true);
  if (r.Has("image_size")) {
    const json& v = root.at("image_size");
    if (v.is_number_integer()) {
      r.Int("image_size", &c.image_height, 1);
      c.image_width = c.image_height;
    } else {
      std::vector<int> hw = r.IntList("image_size", 1);
      if (hw.size() != 2) r.Fail("image_size", "must be an integer or [height, width]", v);
      c.image_height = hw[0];
      c.image_width = hw[1];
    }
  }
  r.Int("patch_size", &c.patch_size, 1);
  r.Int("num_channels", &c.num_channels, 1);
  r.Bool("use_mask_token", &c.use_mask_token);
  r.Bool("use_absolute_position_embeddings", &c.use_absolute_position_embeddings);
  r.Bool("use_relative_position_bias", &c.use_relative_position_bias);
  r.Bool("use_shared_relative_position_bias", &c.use_shared_relative_position_bias);
  r.Float("layer_scale_init_value", &c.layer_scale_init_value, -1e30f, false);
  r.Float("drop_path_rate", &c.drop_path_rate, 0.0f, false);
  r.Bool("use_mean_pooling", &c.use_mean_pooling);
  if (r.Has("pool_scales")) c.pool_scales = r.IntList("pool_scales", 1);
  r.Bool("use_auxiliary_head", &c.use_auxiliary_head);
  r.Float("auxiliary_loss_weight", &c.auxiliary_loss_weight, 0.0f, false);
  r.Int("auxiliary_channels", &c.auxiliary_channels, 1);
  r.Int("auxiliary_num_convs", &c.auxiliary_num_convs, 0);
  r.Bool("auxiliary_concat_input", &c.auxiliary_concat_input);
  if (r.Has("semantic_loss_ignore_index")) {
    const json& v = root.at("semantic_loss_ignore_index");
    if (!v.is_number_integer()) r.Fail("semantic_loss_ignore_index", "must be an integer", v);
    c.semantic_loss_ignore_index = v.get<int>();
  }
  r.Bool("add_fpn", &c.add_fpn);
  r.Bool("reshape_hidden_states", &c.reshape_hidden_states);

  if (r.Has("out_indices")) {
    c.out_indices = r.IntList("out_indices", 0);
  } else if (r.Has("segmentation_indices")) {
    c.out_indices = r.IntList("segmentation_indices", 0);
  } else if (c.model_type == "data2vec-vision") {
    c.out_indices = {3, 5, 7, 11};  // Data2VecVisionConfig's own default
  } else {
    c.out_indices = {c.num_hidden_layers};
  }

  // Labels: id2label wins over num_labels, as in PretrainedConfig.
  if (r.Has("id2label")) {
    const json& v = root.at("id2label");
    if (!v.is_object()) r.Fail("id2label", "must be an object mapping ids to names", v);
    for (auto it = v.begin(); it != v.end(); ++it) {
      int id = -1;
      try {
        size_t used = 0;
        id = std::stoi(it.key(), &used);
        if (used != it.key().size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
      if (id < 0 || !it.value().is_string()) r.Fail("id2label", "must map integer ids to strings", v);
      c.id2label[id] = it.value().get<std::string>();
    }
    c.num_labels = static_cast<int>(c.id2label.size());
    for (int i = 0; i < c.num_labels; ++i) {
      if (!c.id2label.count(i)) r.Fail("id2label", "must have ids 0..N-1 without gaps", v);
    }
  } else {
    r.Int("num_labels", &c.num_labels, 0);
    for (int i = 0; i < c.num_labels; ++i) c.id2label[i] = "LABEL_" + std::to_string(i);
  }

  // Cross-field checks.
  if (c.hidden_size % c.num_attention_heads != 0) {
    throw ModelError(source + ": field 'hidden_size' (" + std::to_string(c.hidden_size) +
                     ") must be a multiple of 'num_attention_heads' (" +
                     std::to_string(c.num_attention_heads) + ")");
  }
  if (!IsSupportedActivation(c.hidden_act)) {
    throw ModelError(source + ": field 'hidden_act' is '" + c.hidden_act +
                     "'; supported: gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, quick_gelu, relu, "
                     "selu, silu, swish, mish, tanh, sigmoid, linear");
  }
  if (c.patch_size > c.image_height || c.patch_size > c.image_width) {
    throw ModelError(source + ": field 'patch_size' (" + std::to_string(c.patch_size) +
                     ") is larger than 'image_size'");
  }
  // BeitConfig (a backbone config) rejects stages beyond the encoder; Data2VecVisionConfig keeps
  // its default [3, 5, 7, 11] even for shallower models and uses it only for segmentation, whose
  // head checks what it picks (semantic_segmenter.cc).
  for (int idx : c.out_indices) {
    if (idx > c.num_hidden_layers && c.model_type == "beit") {
      throw ModelError(source + ": field 'out_indices' holds " + std::to_string(idx) +
                       ", beyond num_hidden_layers (" + std::to_string(c.num_hidden_layers) + ")");
    }
  }
  return c;
}

double BeitConfig::gflops_per_image() const {
  const double P = static_cast<double>(patch_grid_height()) * patch_grid_width();
  const double N = P + 1, D = hidden_size, I = intermediate_size, L = num_hidden_layers;
  const double patch = P * 3.0 * patch_size * patch_size * D;
  const double layer = N * D * 3 * D + 2 * N * N * D + N * D * D + 2 * N * D * I;
  return 2 * (patch + L * layer) * 1e-9;
}

BeitConfig LoadBeitConfig(const std::string& path) {
  return ParseBeitConfig(ReadTextFile(path), path);
}

}  // namespace beit
