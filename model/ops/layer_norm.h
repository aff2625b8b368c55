// torch.nn.LayerNorm over the last dimension, on oneDNN's layer normalization.
//
// Contract: Forward normalises each of `rows` rows of width C (gamma/beta applied, eps from the
// config) from x into y; x and y may be the same buffer. Primitives cached per `rows`.
#pragma once

#include <cstdint>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/dnnl_context.h"
#include "model/tensor.h"

namespace beit {

class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(Tensor gamma, Tensor beta, float eps);

  void Forward(dnnl::stream& stream, const float* x, int64_t rows, float* y) const;

 private:
  int64_t width_ = 0;
  float eps_ = 1e-12f;
  Tensor gamma_, beta_;
  PrimitiveCache<int64_t, dnnl::layer_normalization_forward> cache_;
};

}  // namespace beit
