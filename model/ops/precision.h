// The arithmetic a model's transformer layers use. f32 is exact to Transformers (1e-4); bf16 stores
// Linear weights as bfloat16 and rounds matmul inputs to bfloat16 with f32 accumulation (about 2x
// faster on CPUs with AVX512-BF16, and refused elsewhere: cpu_tier.h; logits agree with f32 to
// cosine >= 0.9999); int8 quantises Linear weights per output channel (7-bit without VNNI) and
// inputs per token (row), both symmetric s8, with s32 accumulation (cosine >= 0.9995). Every
// Linear (the patch embedding and the heads' too) takes the model's precision. Where the CPU tier
// has native bf16 (UsesBf16Operands), reduced precisions also give the attention matmuls and the
// segmentation heads' 1x1 and transposed convolutions bf16 operands (3x3 convolutions run f32
// Winograd where the CPU has it, see conv.h); elsewhere those stay f32. LayerNorm, softmax and the
// heads' other ops are f32.
// See tests/model/reduced_precision_test.cc.
#pragma once

#include <optional>
#include <string>

namespace beit {

enum class Precision { kF32, kBF16, kInt8 };

inline const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kBF16: return "bf16";
    case Precision::kInt8: return "int8";
    default: return "f32";
  }
}

inline std::optional<Precision> ParsePrecision(const std::string& name) {
  if (name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  if (name == "int8") return Precision::kInt8;
  return std::nullopt;
}

// While alive, the layers built on this thread (Linear, Conv2d) use `precision`; ModelRunner::Load
// sets it around model construction, so layers need not pass it down.
class ScopedPrecision {
 public:
  explicit ScopedPrecision(Precision precision);
  ~ScopedPrecision();
  ScopedPrecision(const ScopedPrecision&) = delete;
  ScopedPrecision& operator=(const ScopedPrecision&) = delete;

  // The precision layers built now on this thread use (f32 outside any scope).
  static Precision Current();

 private:
  Precision previous_;
};

}  // namespace beit
