// The fused attention kernel against the plain-loop reference of Transformers' attention core,
// in f32 and with bf16 operands, on shapes that reach every tile: BEiT-base's own (N = 197: 32
// blocks of six queries and a tail of five, scores in four-vector tiles and a one-vector tail;
// d = 64: one full context tile) and small ones: query tails of 1 to 5 (N = 7, 8, 9, 10, 17, 64),
// N a whole number of vectors (64) or below one, context tiles of one to four vectors (d = 8, 16,
// 32, 40, 48, 64) with a partial last vector (8, 40) and across two passes (72), odd and even N
// for the bf16 row pairs.
#include "model/fused_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/model/attention_reference.h"

namespace beit {
namespace {

using dt = dnnl::memory::data_type;

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

struct Case {
  AttentionShape shape;
  bool bias, head_mask;
};

// Inputs for one case: Q/K/V, bias and head mask (the last two null unless the case has them).
struct Inputs {
  explicit Inputs(const Case& c) : shape(c.shape) {
    const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, C = H * shape.head_dim;
    qkv.resize(B * N * 3 * C);
    bias_values.resize(H * N * N);
    mask_values.resize(H);
    // Scores spread over several units, as trained models' are, so softmax is far from uniform.
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = 0.6f * std::sin(0.7f * i + 0.3f) + 0.2f * std::cos(0.013f * i);
    for (size_t i = 0; i < bias_values.size(); ++i) bias_values[i] = 0.8f * std::cos(1.3f * i);
    for (int64_t h = 0; h < H; ++h) mask_values[h] = h % 3 == 1 ? 0.f : 1.f - 0.25f * h;
    bias = c.bias ? bias_values.data() : nullptr;
    mask = c.head_mask ? mask_values.data() : nullptr;
  }
  AttentionReference Reference(const std::vector<float>& operands, bool bf16_probs) const {
    return NaiveAttention(operands, shape.batch, shape.tokens, shape.heads, shape.head_dim, 1.f, bias, mask, bf16_probs);
  }
  int64_t probs_size() const { return shape.batch * shape.heads * shape.tokens * shape.tokens; }
  int64_t context_size() const { return shape.batch * shape.tokens * shape.heads * shape.head_dim; }

  AttentionShape shape;
  std::vector<float> qkv, bias_values, mask_values;
  const float* bias;
  const float* mask;
};

class FusedAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(FusedAttentionTest, F32MatchesTheReference) {
  if (!FusedAttentionSupported(dt::f32, GetParam().shape.head_dim)) GTEST_SKIP() << "this CPU has no AVX-512";
  const Inputs in(GetParam());
  const AttentionReference want = in.Reference(in.qkv, /*bf16_probs=*/false);
  std::vector<float> probs(in.probs_size(), -1.f), context(in.context_size(), -1.f);
  FusedAttention(F32View(in.qkv.data()), in.shape, in.bias, in.mask, probs.data(), F32View(context.data()));
  // Within f32 rounding of the reference's double sums (scores here reach about 10).
  EXPECT_LT(MaxAbsDiff(probs, want.probs), 2e-6);
  EXPECT_LT(MaxAbsDiff(context, want.context), 4e-6);

  // Without a probabilities buffer the context is the same, bit for bit.
  std::vector<float> context_only(in.context_size(), -1.f);
  FusedAttention(F32View(in.qkv.data()), in.shape, in.bias, in.mask, nullptr, F32View(context_only.data()));
  EXPECT_EQ(context_only, context);
}

// bf16 operands: scores from the rounded Q and K, probabilities rounded to bf16 before they
// multiply V — against the reference doing exactly that in double. The context may differ where a
// probability sits on a bf16 rounding boundary (one term, at most |v| p 2^-8).
TEST_P(FusedAttentionTest, Bf16MatchesTheReferenceOnRoundedOperands) {
  if (!FusedAttentionSupported(dt::bf16, GetParam().shape.head_dim)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  const Inputs in(GetParam());
  std::vector<uint16_t> qkv(in.qkv.size());
  RoundToBf16(in.qkv.data(), int64_t(qkv.size()), qkv.data());
  std::vector<float> rounded(qkv.size());
  for (size_t i = 0; i < qkv.size(); ++i) rounded[i] = Bf16ToFloat(qkv[i]);

  const AttentionReference want = in.Reference(rounded, /*bf16_probs=*/true);
  std::vector<float> probs(in.probs_size(), -1.f), context(in.context_size(), -1.f);
  FusedAttention({qkv.data(), dt::bf16}, in.shape, in.bias, in.mask, probs.data(), F32View(context.data()));
  EXPECT_LT(MaxAbsDiff(probs, want.probs), 2e-6);
  EXPECT_LT(MaxAbsDiff(context, want.context), 5e-4);

  // bf16 context: the f32 context rounded to nearest even.
  std::vector<uint16_t> context_bf16(in.context_size()), want_bf16(in.context_size());
  FusedAttention({qkv.data(), dt::bf16}, in.shape, in.bias, in.mask, nullptr, {context_bf16.data(), dt::bf16});
  RoundToBf16(context.data(), in.context_size(), want_bf16.data());
  EXPECT_EQ(context_bf16, want_bf16);
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedAttentionTest,
                         ::testing::Values(Case{{2, 197, 2, 64}, true, false}, Case{{1, 197, 3, 64}, false, true},
                                           Case{{2, 17, 4, 8}, true, true}, Case{{3, 7, 2, 16}, true, false},
                                           Case{{1, 5, 3, 72}, true, true}, Case{{1, 1, 2, 8}, false, false},
                                           Case{{2, 65, 1, 32}, true, false}, Case{{1, 8, 2, 40}, true, true},
                                           Case{{1, 9, 2, 48}, true, false}, Case{{2, 10, 2, 16}, false, true},
                                           Case{{1, 64, 2, 64}, true, true}));

TEST(FusedAttention, Bf16NeedsAnEvenHeadSize) { EXPECT_FALSE(FusedAttentionSupported(dt::bf16, 9)); }

// A masked-out head attends to nothing: its context is exactly zero.
TEST(FusedAttention, ZeroHeadMaskGivesZeroContext) {
  if (!FusedAttentionSupported(dt::f32, 16)) GTEST_SKIP() << "this CPU has no AVX-512";
  const AttentionShape shape{1, 9, 2, 16};
  std::vector<float> qkv(9 * 3 * 32), mask{0.f, 1.f}, context(9 * 32, -1.f);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = std::sin(float(i));
  FusedAttention(F32View(qkv.data()), shape, nullptr, mask.data(), nullptr, F32View(context.data()));
  for (int64_t n = 0; n < 9; ++n) {
    for (int64_t j = 0; j < 16; ++j) EXPECT_EQ(context[n * 32 + j], 0.f);
    EXPECT_NE(context[n * 32 + 16], 0.f);
  }
}

}  // namespace
}  // namespace beit
