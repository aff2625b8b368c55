#include "model/io/float_conversion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace beit {
namespace {

// IEEE binary16 by its definition, in floating point (exact: every half is a float).
float ReferenceHalf(uint16_t h) {
  const float sign = (h & 0x8000u) ? -1.0f : 1.0f;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0x1f) {
    return mantissa ? std::numeric_limits<float>::quiet_NaN() : sign * std::numeric_limits<float>::infinity();
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  return sign * std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
}

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(HalfToFloat, MatchesTheDefinitionForEveryPattern) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float want = ReferenceHalf(static_cast<uint16_t>(h));
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "half 0x" << std::hex << h;
      EXPECT_EQ(std::signbit(got), (h & 0x8000u) != 0) << "half 0x" << std::hex << h;
    } else {
      // Bitwise, so -0 and +0 are told apart.
      EXPECT_EQ(Bits(got), Bits(want)) << "half 0x" << std::hex << h << ": got " << got << ", want " << want;
    }
  }
}

TEST(HalfToFloat, KnownValues) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
}

TEST(IsFloatDType, OnlyTheFloatingPointDTypes) {
  EXPECT_TRUE(IsFloatDType(DType::kF32));
  EXPECT_TRUE(IsFloatDType(DType::kF16));
  EXPECT_TRUE(IsFloatDType(DType::kBF16));
  EXPECT_TRUE(IsFloatDType(DType::kF64));
  for (DType d : {DType::kBool, DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kI64}) {
    EXPECT_FALSE(IsFloatDType(d)) << DTypeName(d);
  }
}

template <typename T>
std::vector<uint8_t> Strided(const std::vector<T>& values, size_t stride) {
  std::vector<uint8_t> bytes(values.size() * stride, 0xee);
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(bytes.data() + i * stride, &values[i], sizeof(T));
  return bytes;
}

TEST(ConvertToFloat, F32ContiguousAndStrided) {
  const std::vector<float> values = {1.5f, -2.25f, 0.0f, 3e38f};
  for (size_t stride : {size_t{4}, size_t{12}}) {
    const auto bytes = Strided(values, stride);
    std::vector<float> out(values.size());
    ConvertToFloat(DType::kF32, bytes.data(), stride, values.size(), out.data());
    EXPECT_EQ(out, values) << "stride " << stride;
  }
}

TEST(ConvertToFloat, F64RoundsToFloat) {
  const std::vector<double> values = {0.1, -1e-3, 12345.678, 1e300};
  for (size_t stride : {size_t{8}, size_t{24}}) {
    const auto bytes = Strided(values, stride);
    std::vector<float> out(values.size());
    ConvertToFloat(DType::kF64, bytes.data(), stride, values.size(), out.data());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(out[i], static_cast<float>(values[i])) << i << ", stride " << stride;
    }
  }
}

TEST(ConvertToFloat, F16AndBF16) {
  const std::vector<uint16_t> half = {0x3c00, 0xc000, 0x0001, 0x7c00};
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x0001, 0x7f80};  // 1, -2, tiny subnormal, inf
  for (size_t stride : {size_t{2}, size_t{6}}) {
    std::vector<float> out(4);
    auto bytes = Strided(half, stride);
    ConvertToFloat(DType::kF16, bytes.data(), stride, 4, out.data());
    EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24),
                                       std::numeric_limits<float>::infinity()}));
    bytes = Strided(bf16, stride);
    ConvertToFloat(DType::kBF16, bytes.data(), stride, 4, out.data());
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], -2.0f);
    EXPECT_EQ(Bits(out[2]), 0x00010000u);
    EXPECT_EQ(out[3], std::numeric_limits<float>::infinity());
  }
}

TEST(ConvertToFloat, NothingToConvertTouchesNoPointer) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64}) {
    ConvertToFloat(d, nullptr, DTypeSize(d), 0, nullptr);  // must not crash (nor trip UBSan)
  }
}

}  // namespace
}  // namespace beit
