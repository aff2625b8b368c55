// The fused attention kernel against the plain-loop reference of Transformers' attention core,
// in f32 and with bf16 operands, on shapes that reach every tile: BEiT-base's own (N = 197: 32
// blocks of six queries and a tail of five, scores in four-vector tiles and a one-vector tail;
// d = 64: one full context tile) and small ones (head sizes 8 and 16 below a vector, 72 across two
// context passes with a partial vector, N below one vector, odd N for the bf16 row pairs).
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

struct Inputs {
  std::vector<float> qkv, bias, mask;
};

Inputs MakeInputs(const AttentionShape& shape) {
  const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, C = H * shape.head_dim;
  Inputs in{std::vector<float>(B * N * 3 * C), std::vector<float>(H * N * N), std::vector<float>(H)};
  // Scores spread over several units, as trained models' are, so softmax is far from uniform.
  for (size_t i = 0; i < in.qkv.size(); ++i) in.qkv[i] = 0.6f * std::sin(0.7f * i + 0.3f) + 0.2f * std::cos(0.013f * i);
  for (size_t i = 0; i < in.bias.size(); ++i) in.bias[i] = 0.8f * std::cos(1.3f * i);
  for (int64_t h = 0; h < H; ++h) in.mask[h] = h % 3 == 1 ? 0.f : 1.f - 0.25f * h;
  return in;
}

class FusedAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(FusedAttentionTest, F32MatchesTheReference) {
  if (!FusedAttentionSupported(dt::f32, GetParam().shape.head_dim)) GTEST_SKIP() << "this CPU has no AVX-512";
  const auto [shape, with_bias, with_mask] = GetParam();
  const Inputs in = MakeInputs(shape);
  const float* bias = with_bias ? in.bias.data() : nullptr;
  const float* mask = with_mask ? in.mask.data() : nullptr;
  const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, C = H * shape.head_dim;

  const AttentionReference want = NaiveAttention(in.qkv, B, N, H, shape.head_dim, 1.f, bias, mask);
  std::vector<float> probs(B * H * N * N, -1.f), context(B * N * C, -1.f);
  FusedAttention(F32View(in.qkv.data()), shape, bias, mask, probs.data(), F32View(context.data()));
  // Within f32 rounding of the reference's double sums (scores here reach about 10).
  EXPECT_LT(MaxAbsDiff(probs, want.probs), 2e-6);
  EXPECT_LT(MaxAbsDiff(context, want.context), 4e-6);

  // Without a probabilities buffer the context is the same, bit for bit.
  std::vector<float> context_only(B * N * C, -1.f);
  FusedAttention(F32View(in.qkv.data()), shape, bias, mask, nullptr, F32View(context_only.data()));
  EXPECT_EQ(context_only, context);
}

// bf16 operands: scores from the rounded Q and K, probabilities rounded to bf16 before they
// multiply V — against the reference doing exactly that in double. The context may differ where a
// probability sits on a bf16 rounding boundary (one term, at most |v| p 2^-8).
TEST_P(FusedAttentionTest, Bf16MatchesTheReferenceOnRoundedOperands) {
  if (!FusedAttentionSupported(dt::bf16, GetParam().shape.head_dim)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  const auto [shape, with_bias, with_mask] = GetParam();
  const Inputs in = MakeInputs(shape);
  const float* bias = with_bias ? in.bias.data() : nullptr;
  const float* mask = with_mask ? in.mask.data() : nullptr;
  const int64_t B = shape.batch, N = shape.tokens, H = shape.heads, C = H * shape.head_dim;
  std::vector<uint16_t> qkv(in.qkv.size());
  RoundToBf16(in.qkv.data(), int64_t(qkv.size()), qkv.data());
  std::vector<float> rounded(qkv.size());
  for (size_t i = 0; i < qkv.size(); ++i) rounded[i] = Bf16ToFloat(qkv[i]);

  const AttentionReference want = NaiveAttention(rounded, B, N, H, shape.head_dim, 1.f, bias, mask, true);
  std::vector<float> probs(B * H * N * N, -1.f), context(B * N * C, -1.f);
  FusedAttention({qkv.data(), dt::bf16}, shape, bias, mask, probs.data(), F32View(context.data()));
  EXPECT_LT(MaxAbsDiff(probs, want.probs), 2e-6);
  EXPECT_LT(MaxAbsDiff(context, want.context), 5e-4);

  // bf16 context: the f32 context rounded to nearest even.
  std::vector<uint16_t> context_bf16(B * N * C), want_bf16(B * N * C);
  FusedAttention({qkv.data(), dt::bf16}, shape, bias, mask, nullptr, {context_bf16.data(), dt::bf16});
  RoundToBf16(context.data(), B * N * C, want_bf16.data());
  EXPECT_EQ(context_bf16, want_bf16);
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedAttentionTest,
                         ::testing::Values(Case{{2, 197, 2, 64}, true, false}, Case{{1, 197, 3, 64}, false, true},
                                           Case{{2, 17, 4, 8}, true, true}, Case{{3, 7, 2, 16}, true, false},
                                           Case{{1, 5, 3, 72}, true, true}, Case{{1, 1, 2, 8}, false, false},
                                           Case{{2, 65, 1, 32}, true, false}));

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
