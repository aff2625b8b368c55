// A fully connected layer (torch.nn.Linear) on oneDNN matmul.
//
// Contract:
// - Built from PyTorch's weight [out, in] and optional bias [out]; the weight is transposed and
//   reordered once, here, into the layout oneDNN's matmul prefers (usually blocked), never per
//   call.
// - Forward computes y[rows, out] = act(x[rows, in] * W^T + b), and with `accumulate` adds the
//   result to what y already holds (a fused residual connection). x and y must not alias.
// - x and y may each be f32 or bf16 (ActivationView): a bf16 x is used as is by a bf16 Linear (an
//   f32 or int8 Linear needs f32 x); a bf16 or int8 Linear can write a bf16 y directly (the
//   kernel's last step rounds), so a consumer that wants bf16 gets it without an f32 round trip
//   (except an int8 Linear with a residual sum, which writes f32). Other combinations are
//   ModelErrors.
// - Rows come in independent groups of `group_rows` rows (one image's tokens; 1 for pooled
//   vectors). How they go through the matmul is the kernel policy's choice (kernel_policy.h, by
//   measured speed): f32 and bf16 as one matmul over every row (all tiers' native tables) or one
//   per group; int8 in near-equal slices of at most int8_max_rows (with VNNI) or whole. Where
//   BatchedAnswersAreBitIdentical(precision) (kernel_policy.h) a group's answer never depends on
//   the other groups (the batch), to the bit: int8 accumulates exactly in s32; f32 and bf16 on
//   oneDNN's brgemm (AVX-512 and AMX tiers) sum each row the same way whatever the row count
//   (measured; tests/model/ops/linear_test.cc holds every tier CI runs to it). At AVX2 tiers
//   oneDNN 2.6's GEMM picks its reduction blocking by the number of rows (197 rows round
//   differently from 394 or 1576), so a batch can move an image's results in the last bits
//   (linear_test bounds it), but one matmul per image cost 19 % of BEiT-base's batch-8
//   throughput there (bench/RESULTS.md).
// - One matmul primitive per distinct (rows, y type), created on first use and cached.
//   Thread-safe.
// - Precision::kBF16 stores the weights as bfloat16 and rounds each input row to bfloat16
//   (round-to-nearest-even) before a bf16 x bf16 matmul that accumulates in f32; bias,
//   activation and residual sum are applied in f32. About 2x the f32 throughput on CPUs with
//   AVX512-BF16. ScopedPrecision (precision.h) sets the precision of every Linear built while it
//   lives on this thread (ModelRunner::Load uses it), so layers need not pass it down.
// - Precision::kInt8 stores the weights as s8 with one scale per output channel and quantises
//   each input row (token) on the fly to s8 with its own scale (dynamic, symmetric); an s8 x s8
//   matmul accumulates in s32 (VNNI), then the row scale, bias, activation and residual sum are
//   applied in f32 — in a second pass, or, where the kernel policy asks (int8_fused_epilogue: the
//   AMX tier) and oneDNN's kernel takes it (VNNI and AMX brgemm), as post-ops of the matmul itself,
//   which then runs as [1, rows, in] x [1, in, out] (brgemm broadcasts the [1, rows, 1] token
//   scales only in 3D). A row's result depends only on that row, so batching never changes
//   answers. The int8 scratch buffers (quantised input, s32->f32 product of one slice) are per calling thread
//   and keep the largest size that thread has needed (BEiT-base: about 8 MB per calling thread).
//   CPUs without VNNI (AVX2, AVX-512 without VNNI) multiply u8 x s8 pairs with vpmaddubsw, whose
//   16-bit pair sums saturate for full-range operands (oneDNN shifts s8 inputs to u8); there the
//   weights are quantised to 7 bits (|q| <= 63) so no pair can saturate.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/activation_buffer.h"
#include "model/ops/dnnl_context.h"
#include "model/ops/precision.h"
#include "model/tensor.h"

namespace beit {

// The data type of a Linear's matmul inputs and weights at `precision` (f32, bf16 or s8).
dnnl::memory::data_type LinearInputType(Precision precision);

class Linear {
 public:
  struct Options {
    std::string activation = "linear";  // a Transformers hidden_act name, applied after the bias
    bool accumulate = false;            // y += result instead of y = result
  };

  Linear() = default;
  Linear(const Tensor& weight, const Tensor* bias, Options options);

  // rows must be a multiple of group_rows.
  void Forward(dnnl::stream& stream, ConstActivationView x, int64_t rows, int64_t group_rows, ActivationView y) const;
  void Forward(dnnl::stream& stream, const float* x, int64_t rows, int64_t group_rows, float* y) const {
    Forward(stream, F32View(x), rows, group_rows, F32View(y));
  }

  Precision precision() const { return precision_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  using Key = std::tuple<int64_t, dnnl::memory::data_type>;  // (rows, y type)
  const dnnl::matmul& PrimitiveFor(int64_t rows, dnnl::memory::data_type y_type) const;
  const dnnl::binary& EpilogueFor(int64_t rows) const;
  void ForwardRows(dnnl::stream& stream, ConstActivationView x, int64_t rows, ActivationView y) const;
  void ForwardInt8(dnnl::stream& stream, const float* x, int64_t rows, ActivationView y) const;
  dnnl::matmul::primitive_desc MakePrimitiveDesc(int64_t rows, const dnnl::memory::desc& weights,
                                                 dnnl::memory::data_type y_type) const;

  int64_t in_ = 0, out_ = 0;
  Options options_;
  Precision precision_ = Precision::kF32;
  dnnl::memory::desc weights_md_;  // [in, out] in the kernel's layout
  dnnl::memory weights_;           // owned by oneDNN
  Tensor bias_;           // [1, out]
  std::vector<float> weight_scales_;  // int8: per output channel
  bool fused_epilogue_ = false;       // int8: scale, bias, activation and sum inside the 3D matmul
  PrimitiveCache<Key, dnnl::matmul> cache_;
  PrimitiveCache<int64_t, dnnl::binary> epilogue_cache_;  // int8: row scale, bias, activation, sum
};

}  // namespace beit
