// Conv2d and ConvTranspose2d on oneDNN, NHWC activations, with eval-mode BatchNorm folded in.
//
// Contract:
// - Weights arrive in PyTorch layout: [out, in, kh, kw] for Conv2d, [in, out, kh, kw] for
//   ConvTranspose2d. A following BatchNorm2d (running statistics, eval mode) is folded into the
//   weights and bias at load: y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta.
// - The activation (a hidden_act name, e.g. "relu", "gelu") runs as a fused post-op.
// - Forward reads x [B, H, W, in] and returns [B, OH, OW, out]. Primitives are cached per input
//   shape; weights are reordered into the kernel's preferred layout once per distinct layout.
// - Built under a reduced ScopedPrecision (bf16 or int8) the convolution (unless Winograd, below)
//   runs on bf16 operands:
//   weights (BatchNorm folded first) stored bf16, x rounded to bf16, f32 accumulation, bias,
//   activation and output in f32. int8 models use bf16 here too: their convolutions are the
//   segmentation heads', where bf16 halves the time and keeps the maps (tests/model/
//   reduced_precision_test.cc).
// - 3x3 convolutions with stride 1, padding 1 and no dilation (all of UperNet's and the FCN
//   head's) run, at every precision, as oneDNN's f32 Winograd convolution (F(4x4, 3x3), or
//   F(2x2, 3x3) on small maps) where it has one (AVX-512), one image at a time: on UperNet's
//   shapes 4x the nine-matmul path below and 4-9x oneDNN's direct kernel (bench/RESULTS.md), with
//   outputs within about 1e-6 relative of direct summation (tests/model/ops/conv_test.cc) — tighter
//   than bf16, so reduced-precision models use it too. The price is memory: the f32 weights are
//   kept and the transformed ones take 4x more (36 instead of 9 values per filter), and each call
//   holds one image's input and output in the kernel's blocked layout plus its working space.
// - Without Winograd, f32 3x3 convolutions run as nine matmuls (Conv3x3Matmuls), which oneDNN
//   2.6 does faster than its f32 direct convolution for wide inputs; everything else, and bf16
//   convolutions (where the direct kernel is as fast), runs as oneDNN (de)convolutions.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/io/checkpoint.h"
#include "model/ops/conv3x3_matmuls.h"
#include "model/ops/dnnl_context.h"
#include "model/ops/feature_map.h"
#include "model/ops/precision.h"
#include "model/tensor.h"

namespace beit {

struct BatchNorm {
  Tensor gamma, beta, mean, var;
  float eps = 1e-5f;  // torch.nn.BatchNorm2d default, as Transformers' BEiT heads use
};

BatchNorm TakeBatchNorm(Checkpoint& checkpoint, const std::string& prefix, int64_t channels);

class Conv2d {
 public:
  struct Options {
    int64_t stride = 1, padding = 0, dilation = 1;
    bool transposed = false;
    std::string activation = "linear";
    // false keeps 3x3 convolutions off Winograd (less memory: no 4x transformed weights).
    bool winograd = true;
  };

  Conv2d(Tensor weight, const Tensor* bias, const BatchNorm* batch_norm, Options options);

  enum class Algorithm { kDirect, kWinograd, kNineMatmuls };

  FeatureMap Forward(dnnl::stream& stream, const FeatureMap& x) const;
  int64_t out_channels() const { return out_; }
  Algorithm algorithm() const { return algorithm_; }

 private:
  struct Compiled {
    dnnl::primitive primitive;
    dnnl::memory weights;
    // The kernel's activation layouts when they are not NHWC (Winograd), with the reorders.
    dnnl::memory::desc src, dst;
    dnnl::reorder to_kernel, from_kernel;
    // Winograd's working space, allocated per call: oneDNN 2.6.3's own (library-managed)
    // scratchpad makes a Winograd primitive crash on any thread but the one that created it.
    dnnl::memory::desc scratchpad;
  };
  const Compiled& CompiledFor(int64_t b, int64_t h, int64_t w) const;
  FeatureMap ForwardWinograd(dnnl::stream& stream, const FeatureMap& x) const;
  std::pair<int64_t, int64_t> OutputSize(int64_t h, int64_t w) const;

  int64_t in_, out_, kernel_h_, kernel_w_;
  Options options_;
  Algorithm algorithm_ = Algorithm::kDirect;
  dnnl::memory::data_type operand_type_;  // f32, or bf16 in reduced-precision models (not Winograd)
  Tensor weight_;  // PyTorch layout, BatchNorm folded (released when as_matmuls_ takes over)
  Tensor bias_;
  PrimitiveCache<std::tuple<int64_t, int64_t, int64_t>, Compiled> cache_;
  mutable std::mutex weights_mu_;
  mutable std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> reordered_;  // one per layout
  std::unique_ptr<Conv3x3Matmuls> as_matmuls_;  // set for 3x3, stride 1, padding 1, no dilation
};

// BeitConvModule: Conv2d (no bias) -> BatchNorm2d -> ReLU, loaded from `prefix` conv./bn.
std::unique_ptr<Conv2d> LoadConvModule(Checkpoint& checkpoint, const std::string& prefix, int64_t in,
                                       int64_t out, int64_t kernel, int64_t padding, int64_t dilation = 1);

}  // namespace beit
