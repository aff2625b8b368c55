// RoundToBf16 against hand-worked bit patterns (round to nearest, ties to even; Inf and NaN kept)
// and ActivationBuffer's typed views.
#include "model/ops/activation_buffer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace beit {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t Round(float x) {
  uint16_t out;
  RoundToBf16(&x, 1, &out);
  return out;
}

TEST(RoundToBf16, RoundsToNearestWithTiesToEven) {
  EXPECT_EQ(Round(1.0f), 0x3f80);
  EXPECT_EQ(Round(-2.0f), 0xc000);
  EXPECT_EQ(Round(FromBits(0x3f807fff)), 0x3f80);  // just below half: down
  EXPECT_EQ(Round(FromBits(0x3f808001)), 0x3f81);  // just above half: up
  EXPECT_EQ(Round(FromBits(0x3f808000)), 0x3f80);  // tie, even below: down
  EXPECT_EQ(Round(FromBits(0x3f818000)), 0x3f82);  // tie, odd below: up
  EXPECT_EQ(Round(FromBits(0x7f7fffff)), 0x7f80);  // largest float overflows to Inf (IEEE round to nearest)
}

TEST(Bf16ToFloat, IsTheUpperHalfOfTheFloat) {
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xc040), -3.0f);
  EXPECT_EQ(Bf16ToFloat(Round(0.1f)), FromBits(0x3dcd0000));  // 0.1 rounds up to 0x3dcd
}

TEST(RoundToBf16, KeepsInfinityAndNaN) {
  EXPECT_EQ(Round(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(Round(-std::numeric_limits<float>::infinity()), 0xff80);
  for (uint32_t nan_bits : {0x7fc00000u, 0x7fffffffu, 0x7f800001u, 0xffffffffu}) {
    const uint16_t r = Round(FromBits(nan_bits));
    EXPECT_EQ(r & 0x7f80, 0x7f80) << std::hex << nan_bits;
    EXPECT_NE(r & 0x007f, 0) << std::hex << nan_bits << " became Inf";
  }
}

TEST(ActivationBuffer, ViewsCarryTheirTypeAndGrowOnly) {
  ActivationBuffer buffer;
  const ActivationView f32 = buffer.Resize(10, dnnl::memory::data_type::f32);
  EXPECT_EQ(f32.type, dnnl::memory::data_type::f32);
  static_cast<float*>(f32.data)[9] = 3.f;
  const ActivationView bf16 = buffer.Resize(20, dnnl::memory::data_type::bf16);  // same 40 bytes
  EXPECT_EQ(bf16.type, dnnl::memory::data_type::bf16);
  EXPECT_EQ(bf16.data, f32.data);
  EXPECT_EQ(buffer.view().type, dnnl::memory::data_type::bf16);
  EXPECT_THROW(buffer.Resize(4, dnnl::memory::data_type::s8), std::runtime_error);
}

}  // namespace
}  // namespace beit
