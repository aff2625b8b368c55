// The arithmetic a model's matmuls use. f32 is exact to Transformers (1e-4); bf16 stores weights
// as bfloat16 and rounds matmul inputs to bfloat16 with f32 accumulation (about 2x faster on
// CPUs with AVX512-BF16; logits agree with f32 to cosine >= 0.999, see tests/model/bf16_test.cc).
#pragma once

#include <optional>
#include <string>

namespace beit {

enum class Precision { kF32, kBF16 };

inline const char* PrecisionName(Precision p) { return p == Precision::kBF16 ? "bf16" : "f32"; }

inline std::optional<Precision> ParsePrecision(const std::string& name) {
  if (name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  return std::nullopt;
}

}  // namespace beit
