// Converting a checkpoint's floating-point storage to float, shared by the readers
// (safetensors.h, torch_checkpoint.h, flax_checkpoint.h).
//
// Contract:
// - HalfToFloat converts IEEE binary16 bits to float exactly, for every one of the 65536
//   patterns: signed zeros, subnormals, normals, infinities keep their value; a NaN stays a NaN
//   (sign and payload carried into the float's upper mantissa bits). Integer arithmetic only, so
//   a flush-to-zero FPU mode cannot lose subnormals.
// - IsFloatDType is true for F32, F16, BF16 and F64, the dtypes ConvertToFloat reads.
// - ConvertToFloat reads n little-endian elements of `dtype`, the i-th at src + i * stride_bytes,
//   into dst[0, n): F32 copied (one memcpy when contiguous), F64 rounded to nearest, F16 through
//   HalfToFloat, BF16 as the upper half of a float32. n == 0 touches neither pointer (an empty
//   tensor has no buffer). Other dtypes are the caller's to reject first, each reader in its own
//   words; given one, this writes nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/io/safetensors.h"  // DType

namespace beit {

float HalfToFloat(uint16_t bits);

bool IsFloatDType(DType dtype);

void ConvertToFloat(DType dtype, const uint8_t* src, size_t stride_bytes, size_t n, float* dst);

}  // namespace beit
