// A 3x3 f32 convolution (stride 1, padding 1, no dilation) computed as nine accumulated matmuls.
//
// Why: for the segmentation heads' wide 3x3 convolutions (UperNet's fpn_bottleneck reads 3072
// channels) oneDNN 2.6's f32 direct convolution reaches about half of what its f32 matmul does on
// the same multiply-adds (bench/RESULTS.md); as matmuls the work runs at the matmul's rate. (In
// bf16 the direct convolution is as fast as this, so Conv2d keeps it there.)
//
// Contract:
// - Built from PyTorch's weight [out, in, 3, 3] (BatchNorm already folded) and bias [out]; the
//   nine taps W[:, :, ky, kx]^T are reordered once, here, into the matmul's preferred layout.
// - Forward(x [B, H, W, in]) returns act(conv(x) + bias) [B, H, W, out] in f32, as Conv2d does:
//   x is copied once into a zero-bordered [B, H+2, W+2, in] buffer; tap (ky, kx) is then a plain
//   [rows, in] view of that buffer shifted by (ky, kx), multiplied into a [rows, out] result with
//   the padded width (the two extra columns per row, and the rows between images, are computed
//   and dropped). The first tap adds the bias, the others accumulate (sum post-op), the last one
//   applies the activation. Primitives are cached per row count. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/dnnl_context.h"
#include "model/ops/feature_map.h"
#include "model/tensor.h"

namespace beit {

class Conv3x3Matmuls {
 public:
  Conv3x3Matmuls(const Tensor& weight, const Tensor& bias, std::string activation);

  FeatureMap Forward(dnnl::stream& stream, const FeatureMap& x) const;

 private:
  enum Step { kFirst, kMiddle, kLast };
  const dnnl::matmul& PrimitiveFor(int64_t rows, Step step) const;
  dnnl::matmul::primitive_desc MakePrimitiveDesc(int64_t rows, Step step, const dnnl::memory::desc& weights) const;

  int64_t in_, out_;
  std::string activation_;
  Tensor bias_;  // [1, out]
  dnnl::memory::desc tap_md_;
  std::vector<dnnl::memory> taps_;  // 9 x [in, out], ky-major
  PrimitiveCache<std::tuple<int64_t, int>, dnnl::matmul> cache_;
};

}  // namespace beit
