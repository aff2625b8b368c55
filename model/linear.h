// A fully connected layer (torch.nn.Linear) on oneDNN matmul.
//
// Contract:
// - Built from PyTorch's weight [out, in] and optional bias [out]; the weight is transposed and
//   reordered once, here, into the layout oneDNN's matmul prefers (usually blocked), never per
//   call.
// - Forward computes y[rows, out] = act(x[rows, in] * W^T + b), and with `accumulate` adds the
//   result to what y already holds (a fused residual connection). x and y must not alias.
// - One matmul primitive per distinct `rows`, created on first use and cached. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/dnnl_context.h"
#include "model/tensor.h"

namespace beit {

class Linear {
 public:
  struct Options {
    std::string activation = "linear";  // a Transformers hidden_act name, applied after the bias
    bool accumulate = false;            // y += result instead of y = result
  };

  Linear() = default;
  Linear(const Tensor& weight, const Tensor* bias, Options options);

  void Forward(dnnl::stream& stream, const float* x, int64_t rows, float* y) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  const dnnl::matmul& PrimitiveFor(int64_t rows) const;
  dnnl::matmul::primitive_desc MakePrimitiveDesc(int64_t rows, const dnnl::memory::desc& weights) const;

  int64_t in_ = 0, out_ = 0;
  Options options_;
  dnnl::memory::desc weights_md_;  // [in, out] in the kernel's layout
  dnnl::memory weights_;           // owned by oneDNN
  Tensor bias_;           // [1, out]
  PrimitiveCache<int64_t, dnnl::matmul> cache_;
};

}  // namespace beit
