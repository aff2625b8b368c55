// AttentionKernels against a plain loop implementation of Transformers' BeitSelfAttention core
// (softmax(Q K^T / sqrt(d) + bias) * head_mask, times V): exact in f32, within bf16 rounding with
// bf16 operands — on every path (probabilities straight to bf16, kept in f32, head mask).
#include "model/ops/attention.h"
#include "model/ops/kernel_policy.h"

#include <gtest/gtest.h>

#include "tests/model/ops/cpu_tier_testing.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/ops/fused_attention.h"
#include "tests/model/ops/attention_reference.h"

namespace beit {
namespace {

using dt = dnnl::memory::data_type;

// d = 16: the query scale 1/4 is a power of two, so pre-scaling Q is exact and the reference can
// scale the scores as Transformers does.
constexpr int64_t kBatch = 2, kHeads = 3, kTokens = 7, kHeadDim = 16, kC = kHeads * kHeadDim;

using Reference = AttentionReference;

Reference Naive(const std::vector<float>& qkv, const std::vector<float>* bias, const std::vector<float>* head_mask) {
  return NaiveAttention(qkv, kBatch, kTokens, kHeads, kHeadDim, 1.f / std::sqrt(float(kHeadDim)),
                        bias ? bias->data() : nullptr, head_mask ? head_mask->data() : nullptr);
}

class AttentionTest : public ::testing::Test {
 protected:
  AttentionTest() : qkv_(kBatch * kTokens * 3 * kC), bias_(kHeads * kTokens * kTokens), mask_{1.f, 0.f, 0.5f} {
    for (size_t i = 0; i < qkv_.size(); ++i) qkv_[i] = 1.5f * std::sin(0.7f * i + 0.3f);
    for (size_t i = 0; i < bias_.size(); ++i) bias_[i] = 0.4f * std::cos(1.3f * i);
  }

  // Runs the kernels with bf16 Q/K/V (the values rounded) or f32; returns probs and f32 context.
  // The kernels take Q multiplied by query_scale(), as the layer's QKV projection delivers it.
  Reference Run(bool bf16, const float* head_mask, bool keep_probs, dt context_type = dt::f32) {
    return RunOn(kernels_, bf16, head_mask, keep_probs, context_type);
  }
  Reference RunOn(const AttentionKernels& kernels, bool bf16, const float* head_mask, bool keep_probs,
                  dt context_type = dt::f32) {
    std::vector<float> scaled = qkv_;
    for (int64_t row = 0; row < kBatch * kTokens; ++row) {
      for (int64_t j = 0; j < kC; ++j) scaled[row * 3 * kC + j] *= kernels.query_scale();
    }
    std::vector<uint16_t> qkv_bf16(qkv_.size());
    RoundToBf16(scaled.data(), int64_t(scaled.size()), qkv_bf16.data());
    ConstActivationView qkv = bf16 ? ConstActivationView{qkv_bf16.data(), dt::bf16} : F32View(scaled.data());
    Reference out{std::vector<float>(kBatch * kHeads * kTokens * kTokens), std::vector<float>(kBatch * kTokens * kC)};
    std::vector<uint16_t> context_bf16(out.context.size());
    ActivationView context = context_type == dt::bf16 ? ActivationView{context_bf16.data(), dt::bf16}
                                                      : F32View(out.context.data());
    dnnl::stream stream(CpuEngine());
    std::vector<uint16_t> bf16_probs;
    kernels.Forward(stream, qkv, kBatch, kTokens, bias_.data(), head_mask, keep_probs, out.probs.data(), context,
                     bf16_probs);
    stream.wait();
    if (context_type == dt::bf16) {
      for (size_t i = 0; i < context_bf16.size(); ++i) out.context[i] = Bf16ToFloat(context_bf16[i]);
    }
    return out;
  }

  // The reference on Q/K/V rounded to bf16, as the bf16 kernels see them.
  std::vector<float> RoundedQkv() const {
    std::vector<uint16_t> r(qkv_.size());
    RoundToBf16(qkv_.data(), int64_t(qkv_.size()), r.data());
    std::vector<float> out(r.size());
    for (size_t i = 0; i < r.size(); ++i) out[i] = Bf16ToFloat(r[i]);
    return out;
  }

  static float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
  }

  AttentionKernels kernels_{kHeads, kHeadDim};
  AttentionKernels onednn_kernels_{kHeads, kHeadDim, /*fused=*/false};
  std::vector<float> qkv_, bias_, mask_;
};

TEST_F(AttentionTest, QueryScaleIsOneOverSqrtHeadDim) { EXPECT_EQ(kernels_.query_scale(), 0.25f); }

// f32 on both paths: the fused kernel (AVX-512 or AVX2, by the CPU tier) and the oneDNN primitives.
TEST_F(AttentionTest, F32MatchesTheReference) {
  const Reference want = Naive(qkv_, &bias_, nullptr);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    const Reference kept = RunOn(*kernels, /*bf16=*/false, nullptr, /*keep_probs=*/true);
    EXPECT_LT(MaxAbsDiff(kept.probs, want.probs), 1e-6);
    EXPECT_LT(MaxAbsDiff(kept.context, want.context), 1e-5);
    const Reference context_only = RunOn(*kernels, false, nullptr, /*keep_probs=*/false);
    EXPECT_LT(MaxAbsDiff(context_only.context, want.context), 1e-5);
  }
}

TEST_F(AttentionTest, F32HeadMaskScalesTheReturnedProbabilities) {
  const Reference want = Naive(qkv_, &bias_, &mask_);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    const Reference got = RunOn(*kernels, false, mask_.data(), true);
    EXPECT_LT(MaxAbsDiff(got.probs, want.probs), 1e-6);
    EXPECT_LT(MaxAbsDiff(got.context, want.context), 1e-5);
  }
}

// The fused kernel does not touch the scores buffer when nobody asks for the probabilities: it
// really ran (the oneDNN paths leave scores or probabilities there).
// The fused kernel runs wherever it exists, except bf16 operands under a policy that puts them on
// oneDNN's matmuls (the AMX tier's, also forced with BEIT_KERNEL_POLICY=amx): the fused kernel
// never touches `probs`, the oneDNN path leaves its scores there.
TEST_F(AttentionTest, TakesTheKernelThePolicyNames) {
  if (!FusedAttentionSupported(dt::f32, kHeadDim)) GTEST_SKIP() << "no fused f32 kernel at this CPU tier";
  for (const bool bf16 : {false, true}) {
    if (bf16 && !FusedAttentionSupported(dt::bf16, kHeadDim)) continue;  // f32 was checked
    const bool fused = !(bf16 && ActiveKernelPolicy().bf16_attention_on_onednn);
    EXPECT_EQ(kernels_.RunsFused(bf16 ? dt::bf16 : dt::f32), fused) << KernelPolicyName();
    const Reference got = Run(bf16, nullptr, /*keep_probs=*/false);
    const bool untouched = std::all_of(got.probs.begin(), got.probs.end(), [](float p) { return p == 0.f; });
    EXPECT_EQ(untouched, fused) << (bf16 ? "bf16 " : "f32 ") << KernelPolicyName();
  }
}

// bf16 operands: the scores come from the rounded Q and K (so kept probabilities match the
// reference on rounded inputs to f32 precision); the second matmul also rounds the probabilities,
// an error of at most 2^-9 relative per term.
TEST_F(AttentionTest, Bf16ProbabilitiesStraightToBf16) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const Reference want = Naive(RoundedQkv(), &bias_, nullptr);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    EXPECT_LT(MaxAbsDiff(RunOn(*kernels, true, nullptr, /*keep_probs=*/false).context, want.context), 1e-2);
  }
  // oneDNN's softmax wrote its bf16 output elsewhere: `probs` still holds the scores, not rows
  // summing to 1.
  const Reference got = RunOn(onednn_kernels_, true, nullptr, /*keep_probs=*/false);
  float worst_row_sum_error = 0;
  for (int64_t row = 0; row < kBatch * kHeads * kTokens; ++row) {
    float sum = 0;
    for (int64_t m = 0; m < kTokens; ++m) sum += got.probs[row * kTokens + m];
    worst_row_sum_error = std::max(worst_row_sum_error, std::fabs(sum - 1.f));
  }
  EXPECT_GT(worst_row_sum_error, 0.1f) << "probabilities were written in f32: the direct bf16 path was not taken";
}

TEST_F(AttentionTest, Bf16KeepsF32ProbabilitiesWhenAsked) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const Reference want = Naive(RoundedQkv(), &bias_, nullptr);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    const Reference got = RunOn(*kernels, true, nullptr, /*keep_probs=*/true);
    EXPECT_LT(MaxAbsDiff(got.probs, want.probs), 1e-6);
    EXPECT_LT(MaxAbsDiff(got.context, want.context), 1e-2);
  }
}

TEST_F(AttentionTest, Bf16HeadMask) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  const Reference want = Naive(RoundedQkv(), &bias_, &mask_);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    const Reference got = RunOn(*kernels, true, mask_.data(), /*keep_probs=*/false);
    EXPECT_LT(MaxAbsDiff(got.context, want.context), 1e-2);
    for (int64_t b = 0; b < kBatch; ++b) {  // head 1 is masked out: its context is zero
      for (int64_t n = 0; n < kTokens; ++n) {
        for (int64_t j = 0; j < kHeadDim; ++j) EXPECT_EQ(got.context[(b * kTokens + n) * kC + kHeadDim + j], 0.f);
      }
    }
  }
}

TEST_F(AttentionTest, F32OperandsWriteF32Context) {
  std::vector<float> probs(kBatch * kHeads * kTokens * kTokens);
  std::vector<uint16_t> context(kBatch * kTokens * kC), bf16_probs;
  dnnl::stream stream(CpuEngine());
  EXPECT_THROW(kernels_.Forward(stream, F32View(qkv_.data()), kBatch, kTokens, nullptr, nullptr, false, probs.data(),
                                ActivationView{context.data(), dt::bf16}, bf16_probs),
               std::runtime_error);
}

TEST_F(AttentionTest, Bf16ContextOutput) {
  BEIT_SKIP_UNLESS_TIER_RUNS(Precision::kBF16);
  for (const AttentionKernels* kernels : {&kernels_, &onednn_kernels_}) {
    const Reference f32_context = RunOn(*kernels, true, nullptr, false, dt::f32);
    const Reference bf16_context = RunOn(*kernels, true, nullptr, false, dt::bf16);
    for (size_t i = 0; i < f32_context.context.size(); ++i) {
      const float x = f32_context.context[i];
      EXPECT_NEAR(bf16_context.context[i], x, std::fabs(x) * 0x1p-8f + 1e-7f) << i;  // half a bf16 ulp
    }
  }
}

}  // namespace
}  // namespace beit
