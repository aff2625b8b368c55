#include "client/segmentation_overlay.h"

#include <gtest/gtest.h>

#include <set>

namespace beit::client {
namespace {

TEST(OverlayLabels, BlendsEachPixelHalfWayToItsClassColour) {
  Image8 image(2, 1, 3);
  image.pixels = {0, 0, 0, 200, 100, 50};
  const LabelMap labels({1, 2}, {0, 3});
  const Image8 out = OverlayLabels(image, labels);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(out.pixels[k], (0 + ClassColor(0)[k] + 1) / 2);
    EXPECT_EQ(out.pixels[3 + k], (image.pixels[3 + k] + ClassColor(3)[k] + 1) / 2);
  }
}

TEST(OverlayLabels, NeighbouringLabelsGetDistinctColours) {
  std::set<std::array<uint8_t, 3>> colours;
  for (int label = 0; label < 40; ++label) colours.insert(ClassColor(label));
  EXPECT_EQ(colours.size(), 40u);
}

TEST(OverlayLabels, RefusesAMapOfAnotherSize) {
  Image8 image(2, 2, 3);
  EXPECT_THROW(OverlayLabels(image, LabelMap({2, 3})), std::invalid_argument);
}

}  // namespace
}  // namespace beit::client
