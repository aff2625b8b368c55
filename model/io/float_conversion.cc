#include "model/io/float_conversion.h"

#include <cstring>

namespace beit {
namespace {

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

}  // namespace

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t out;
  if (exponent == 0x1f) {
    out = sign | 0x7f800000u | (mantissa << 13);  // inf, nan (payload kept)
  } else if (exponent != 0) {
    out = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    out = sign;  // signed zero
  } else {
    // Subnormal: mantissa * 2^-24. Move the leading one up to bit 10 (the implicit bit), lowering
    // the exponent by as many places as it moved: 2^-14 is float exponent 113.
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    out = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

bool IsFloatDType(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF64;
}

void ConvertToFloat(DType dtype, const uint8_t* src, size_t stride_bytes, size_t n, float* dst) {
  if (n == 0) return;
  switch (dtype) {
    case DType::kF32:
      if (stride_bytes == 4) {
        std::memcpy(dst, src, n * 4);
      } else {
        for (size_t i = 0; i < n; ++i) std::memcpy(dst + i, src + i * stride_bytes, 4);
      }
      return;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + i * stride_bytes, 8);
        dst[i] = static_cast<float>(d);
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) dst[i] = HalfToFloat(Load16(src + i * stride_bytes));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(Load16(src + i * stride_bytes)) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      return;
    default:
      return;  // callers reject the other dtypes first
  }
}

}  // namespace beit
