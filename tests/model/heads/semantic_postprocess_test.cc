#include "model/heads/semantic_postprocess.h"

#include <gtest/gtest.h>

#include <cmath>

namespace beit {
namespace {

TEST(SemanticMapsNative, ArgmaxOverLabelsFirstMaximumWins) {
  // B=1, K=3, 1x2 pixels: pixel 0 -> label 2; pixel 1 ties labels 0 and 1 -> 0 (torch.argmax).
  Tensor logits({1, 3, 1, 2}, {0.f, 5.f, /*k=1*/ 1.f, 5.f, /*k=2*/ 3.f, -1.f});
  LabelMap m = SemanticMapsNative(logits);
  ASSERT_EQ(m.shape, (Shape{1, 1, 2}));
  EXPECT_EQ(m.data[0], 2);
  EXPECT_EQ(m.data[1], 0);
}

TEST(SemanticMapAtSize, ResizesLogitsBeforeArgmax) {
  // K=2 over 1x2: label 0 strong on the left, label 1 on the right; resized to 1x4.
  Tensor logits({1, 2, 1, 2}, {1.f, 0.f, /*k=1*/ 0.f, 1.f});
  LabelMap m = SemanticMapAtSize(logits, 0, 1, 4);
  ASSERT_EQ(m.shape, (Shape{1, 4}));
  EXPECT_EQ(m.data, (std::vector<int32_t>{0, 0, 1, 1}));
}

TEST(SemanticMapAtSize, PicksTheRequestedImage) {
  Tensor logits({2, 2, 1, 1}, {1.f, 0.f, /*image 1*/ 0.f, 1.f});
  EXPECT_EQ(SemanticMapAtSize(logits, 1, 2, 2).data, (std::vector<int32_t>{1, 1, 1, 1}));
  EXPECT_THROW(SemanticMapAtSize(logits, 2, 2, 2), std::exception);
}

TEST(PredictSemanticAtSize, ScoresAreTheWinnersSoftmaxProbability) {
  // K=3 at one pixel (same size, so no interpolation): logits 1, 3, 2 -> label 1 with
  // e^3 / (e^1 + e^3 + e^2).
  Tensor logits({1, 3, 1, 1}, {1.f, 3.f, 2.f});
  SemanticPrediction p = PredictSemanticAtSize(logits, 0, 1, 1, /*with_scores=*/true);
  EXPECT_EQ(p.map.data, (std::vector<int32_t>{1}));
  ASSERT_EQ(p.scores.shape, (Shape{1, 1}));
  EXPECT_NEAR(p.scores.data[0], std::exp(3.0) / (std::exp(1.0) + std::exp(3.0) + std::exp(2.0)), 1e-6);
  EXPECT_TRUE(PredictSemanticAtSize(logits, 0, 1, 1, /*with_scores=*/false).scores.data.empty());
}

}  // namespace
}  // namespace beit
