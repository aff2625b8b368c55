#include "model/ops/resample.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/ops/interpolate.h"

namespace beit {
namespace {

// BEiT-base's UperNet upsamples 768-channel maps (20x20 -> 40x40 for a 640x640 input). oneDNN
// 2.6.3's JIT resamplers crashed on exactly this (at avx512_core_bf16 and at avx2); the result
// must also equal PyTorch's bilinear interpolation (our planar reference, itself checked against
// the goldens). CI runs this at every CPU tier.
TEST(ResizeBilinear, WideMapsMatchThePlanarReference) {
  for (const auto& [channels, in, out] : {std::tuple{768, 20, 40}, std::tuple{512, 20, 40}, std::tuple{32, 5, 7}}) {
    FeatureMap x(1, in, in, channels);
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>((i * 37) % 101) / 10.f;
    const FeatureMap y = ResizeBilinear(x, out, out);
    ASSERT_EQ(y.height, out);
    ASSERT_EQ(y.channels, channels);
    const Tensor planes = ToNchw(x);
    std::vector<float> expected(static_cast<size_t>(channels) * out * out);
    ResizeBilinear(planes.ptr(), channels, in, in, expected.data(), out, out);
    double worst = 0;
    for (int64_t p = 0; p < out * out; ++p) {
      for (int64_t c = 0; c < channels; ++c) {
        worst = std::max(worst, std::fabs(double(y.data[p * channels + c]) - expected[c * out * out + p]));
      }
    }
    EXPECT_LT(worst, 1e-5) << channels << " channels";
  }
}

}  // namespace
}  // namespace beit
