#include "model/ops/activation_buffer.h"

#include <cstring>

#include "model/model_error.h"

namespace beit {

ActivationView ActivationBuffer::Resize(int64_t elements, dnnl::memory::data_type type) {
  if (type != dnnl::memory::data_type::f32 && type != dnnl::memory::data_type::bf16) {
    throw ModelError("activations are f32 or bf16");
  }
  const int64_t words = (elements * ElementBytes(type) + 3) / 4;
  if (static_cast<int64_t>(storage_.size()) < words) storage_.resize(static_cast<size_t>(words));
  type_ = type;
  return view();
}

void RoundToBf16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    // NaN stays a (quiet) NaN instead of letting the rounding carry turn it into Inf or zero.
    const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
    out[i] = static_cast<uint16_t>(nan ? (bits >> 16) | 0x40u : rounded);
  }
}

float Bf16ToFloat(uint16_t value) {
  const uint32_t bits = uint32_t{value} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace beit
