#include "model/ops/interpolate.h"

#include <gtest/gtest.h>

#include <vector>

namespace beit {
namespace {

// Values worked out from PyTorch's rule src = (dst + 0.5) * in/out - 0.5 with align_corners=False.
TEST(ResizeBilinear, UpsamplesWithClampedEdges) {
  const std::vector<float> in = {0.f, 1.f};  // one row, two columns
  std::vector<float> out(4);
  ResizeBilinear(in.data(), 1, 1, 2, out.data(), 1, 4);
  // src x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (right neighbour clamped)
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_FLOAT_EQ(out[1], 0.25f);
  EXPECT_FLOAT_EQ(out[2], 0.75f);
  EXPECT_FLOAT_EQ(out[3], 1.f);
}

TEST(ResizeBilinear, DownsamplesWithoutAntialiasing) {
  const std::vector<float> in = {0.f, 1.f, 2.f, 3.f};
  std::vector<float> out(2);
  ResizeBilinear(in.data(), 1, 1, 4, out.data(), 1, 2);
  // src x = 0.5 and 2.5
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[1], 2.5f);
}

TEST(ResizeBilinear, SameSizeIsIdentityAcrossPlanes) {
  const std::vector<float> in = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> out(8);
  ResizeBilinear(in.data(), 2, 2, 2, out.data(), 2, 2);
  EXPECT_EQ(out, in);
}

TEST(ResizeBicubic, UpsamplesWithPyTorchCoefficients) {
  const std::vector<float> in = {0.f, 1.f};
  std::vector<float> out(4);
  ResizeBicubic(in.data(), 1, 1, 2, out.data(), 1, 4);
  // A = -0.75: cubic1(x) = (1.25x - 2.25)x^2 + 1, cubic2(x) = ((-0.75x + 3.75)x - 6)x + 3.
  // x = -0.25: taps clamp to values {0,0,0,1}, t = 0.75 -> cubic2(1.25) = -0.10546875
  EXPECT_FLOAT_EQ(out[0], -0.10546875f);
  // x = 0.25: values {0,0,1,1}, t = 0.25 -> cubic1(0.75) + cubic2(1.75) = 0.26171875 - 0.03515625
  EXPECT_FLOAT_EQ(out[1], 0.2265625f);
  EXPECT_FLOAT_EQ(out[2], 0.7734375f);
  EXPECT_FLOAT_EQ(out[3], 1.10546875f);
}

TEST(ResizeBicubic, ConstantStaysConstant) {
  std::vector<float> in(3 * 5, 2.5f), out(7 * 4);
  ResizeBicubic(in.data(), 1, 3, 5, out.data(), 7, 4);
  for (float v : out) EXPECT_NEAR(v, 2.5f, 1e-6);
}

}  // namespace
}  // namespace beit
