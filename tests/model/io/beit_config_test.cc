#include "model/io/beit_config.h"

#include <gtest/gtest.h>

#include "model/model_error.h"

namespace beit {
namespace {

std::string ErrorOf(const std::string& json) {
  try {
    ParseBeitConfig(json);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(BeitConfig, DefaultsMatchTransformers) {
  BeitConfig c = ParseBeitConfig("{}");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-12f);
  EXPECT_EQ(c.image_height, 224);
  EXPECT_EQ(c.patch_size, 16);
  EXPECT_FALSE(c.use_relative_position_bias);
  EXPECT_TRUE(c.use_mean_pooling);
  EXPECT_FLOAT_EQ(c.layer_scale_init_value, 0.1f);
  EXPECT_EQ(c.pool_scales, (std::vector<int>{1, 2, 3, 6}));
  EXPECT_EQ(c.out_indices, (std::vector<int>{12}));
  EXPECT_EQ(c.num_labels, 2);
  EXPECT_EQ(c.id2label.at(1), "LABEL_1");
  EXPECT_EQ(c.architecture(), "BeitModel");
}

TEST(BeitConfig, ReadsFieldsAndLabels) {
  BeitConfig c = ParseBeitConfig(R"({
    "architectures": ["BeitForImageClassification"], "hidden_size": 48, "num_attention_heads": 3,
    "image_size": [32, 48], "patch_size": 8, "hidden_act": "gelu_new", "layer_norm_eps": 1e-6,
    "id2label": {"0": "tabby", "1": "tiger", "2": "lynx"}, "unknown_future_field": {"x": 1},
    "segmentation_indices": [3, 5, 7, 11], "use_shared_relative_position_bias": true})");
  EXPECT_EQ(c.architecture(), "BeitForImageClassification");
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.patch_grid_height(), 4);
  EXPECT_EQ(c.patch_grid_width(), 6);
  EXPECT_EQ(c.num_labels, 3);
  EXPECT_EQ(c.id2label.at(2), "lynx");
  EXPECT_EQ(c.out_indices, (std::vector<int>{3, 5, 7, 11}));
  EXPECT_TRUE(c.use_shared_relative_position_bias);
}

TEST(BeitConfig, NumLabelsWithoutId2Label) {
  EXPECT_EQ(ParseBeitConfig(R"({"num_labels": 5})").num_labels, 5);
}

TEST(BeitConfig, InvalidValuesNameTheField) {
  EXPECT_NE(ErrorOf(R"({"hidden_size": -3})").find("'hidden_size'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"hidden_size": "big"})").find("'hidden_size'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"hidden_size": 100, "num_attention_heads": 12})").find("multiple"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"hidden_act": "gelu_tanh_9"})").find("'hidden_act'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"layer_norm_eps": 0})").find("'layer_norm_eps'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"use_mean_pooling": 1})").find("'use_mean_pooling'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"pool_scales": [1, 0]})").find("'pool_scales'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"image_size": [1, 2, 3]})").find("'image_size'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"id2label": {"0": "a", "2": "c"}})").find("'id2label'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"out_indices": [13]})").find("'out_indices'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"model_type": "vit"})").find("'model_type'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"patch_size": 512})").find("'patch_size'"), std::string::npos);
}

// Data2Vec-Vision is BEiT's architecture under its own model_type, class names and defaults.
TEST(BeitConfig, Data2VecVisionIsTheBeitFamily) {
  // Its default out_indices outlive shallow encoders: only segmentation uses (and checks) them.
  const BeitConfig c = ParseBeitConfig(R"({"model_type": "data2vec-vision", "num_hidden_layers": 2})");
  EXPECT_EQ(c.model_type, "data2vec-vision");
  EXPECT_EQ(c.architecture(), "Data2VecVisionModel");
  EXPECT_EQ(c.out_indices, (std::vector<int>{3, 5, 7, 11}));  // Data2VecVisionConfig's default
  EXPECT_EQ(ParseBeitConfig(R"({"model_type": "beit"})").architecture(), "BeitModel");
  EXPECT_NE(ErrorOf(R"({"model_type": "vit"})").find("data2vec-vision"), std::string::npos);
}

TEST(BeitConfig, BadJsonIsAClearError) {
  EXPECT_NE(ErrorOf("{\"hidden_size\": 12,").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("[1, 2]").find("JSON object"), std::string::npos);
}

TEST(BeitConfig, MissingFileNamesThePath) {
  try {
    LoadBeitConfig("/nonexistent/config.json");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace beit

namespace beit {
namespace {

// Found by config_fuzzer: a number too large for a double made nlohmann throw out_of_range, which
// escaped as a non-ModelError.
TEST(BeitConfigFuzzRegression, NumberOverflowIsAModelError) {
  EXPECT_THROW(ParseBeitConfig("7777777E468q}"), ModelError);
  EXPECT_THROW(ParseBeitConfig(R"({"hidden_size": 1E999})"), ModelError);
}

}  // namespace
}  // namespace beit
