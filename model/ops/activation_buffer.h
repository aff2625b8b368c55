// Activations handed from one kernel to the next, as f32 or bfloat16.
//
// Contract:
// - An ActivationView is a pointer plus its oneDNN element type (f32 or bf16); kernels that take
//   one (Linear, AttentionKernels) read or write whichever type it names, so a reduced-precision
//   layer can keep bf16 between two kernels that both want bf16 (the QKV projection feeding
//   attention, attention feeding the output projection, the MLP's hidden layer) instead of
//   writing f32 and rounding it again — a pass saved and half the memory traffic.
// - An ActivationBuffer owns a growable buffer of one element type, chosen at each Resize; its
//   storage is only reallocated when it grows.
// - RoundToBf16 is round-to-nearest-even, bit-identical to oneDNN's own f32 -> bf16 conversion
//   for finite inputs (NaN stays NaN).
#pragma once

#include <cstdint>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace beit {

struct ConstActivationView {
  const void* data;
  dnnl::memory::data_type type;
};

struct ActivationView {
  void* data;
  dnnl::memory::data_type type;
  operator ConstActivationView() const { return {data, type}; }
};

// Bytes per element of an activation type (4 for f32, 2 for bf16).
inline int64_t ElementBytes(dnnl::memory::data_type type) { return type == dnnl::memory::data_type::f32 ? 4 : 2; }

inline ActivationView F32View(float* data) { return {data, dnnl::memory::data_type::f32}; }
inline ConstActivationView F32View(const float* data) { return {data, dnnl::memory::data_type::f32}; }

class ActivationBuffer {
 public:
  // Makes room for `elements` values of `type` (f32 or bf16) and returns the view of them.
  ActivationView Resize(int64_t elements, dnnl::memory::data_type type);
  ActivationView view() { return {storage_.data(), type_}; }
  int64_t bytes() const { return static_cast<int64_t>(storage_.capacity() * sizeof(uint32_t)); }

 private:
  std::vector<uint32_t> storage_;  // 4-byte words: aligned for f32, two bf16 values each
  dnnl::memory::data_type type_ = dnnl::memory::data_type::f32;
};

// out[i] = bf16(x[i]), round to nearest even. Runs on the calling thread.
void RoundToBf16(const float* x, int64_t n, uint16_t* out);

// The float a bf16 bit pattern stands for (exact).
float Bf16ToFloat(uint16_t value);

}  // namespace beit
