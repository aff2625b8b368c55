// The fused attention kernels against the plain-loop reference of Transformers' attention core,
// in f32 (whichever f32 kernel the CPU tier selects: run once natively and once with
// ONEDNN_MAX_CPU_ISA=AVX2 to cover both) and with bf16 operands, on shapes that reach every tile.
// BEiT-base's own: N = 197 (32 blocks of six queries and a tail of five; AVX-512 scores in
// four-vector tiles and a one-vector tail, AVX2 in two-vector tiles and a one-vector tail),
// d = 64 (one full AVX-512 context tile, four AVX2 ones). Small ones: query tails of 1 to 5
// (N = 7, 8, 9, 10, 17, 64), N a whole number of vectors (64; AVX2 also 8) or below one (AVX2:
// 1, 5, 6, 7), context tiles of one to four 16-lane vectors (d = 8, 16, 32, 40, 48, 64) or of one
// or two 8-lane ones, with a partial last vector (AVX-512: d = 5, 8, 12, 30, 40, 72; AVX2: 5, 12,
// 30) and across several passes (AVX-512: 72; AVX2: every d above 16), odd and even N for the
// bf16 row pairs.
#include "model/ops/fused_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "model/ops/cpu_tier.h"
#include "tests/model/ops/attention_reference.h"

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
  if (!FusedAttentionKernel(dt::f32, GetParam().shape.head_dim)) GTEST_SKIP() << "no fused f32 kernel at this CPU tier";
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
  if (!FusedAttentionSupported(dt::bf16, GetParam().shape.head_dim)) {
    GTEST_SKIP() << "no bf16 kernel at this CPU tier (or odd head size)";
  }
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
                                           Case{{1, 64, 2, 64}, true, true}, Case{{1, 11, 2, 12}, true, true},
                                           Case{{2, 6, 3, 5}, true, false}, Case{{1, 13, 2, 30}, false, true}));

// The kernel follows the tier our kernels compute at (ONEDNN_MAX_CPU_ISA included), not the CPU.
TEST(FusedAttention, KernelFollowsTheCpuTier) {
  const CpuTier tier = EffectiveCpuTier();
  const char* f32 = FusedAttentionKernel(dt::f32, 64);
  if (tier >= CpuTier::kAvx512Core) {
    EXPECT_STREQ(f32, "avx512_f32");
  } else if (tier == CpuTier::kAvx2 || tier == CpuTier::kAvx2Vnni) {
    EXPECT_STREQ(f32, "avx2_f32");
  } else {
    EXPECT_EQ(f32, nullptr);
  }
  if (tier >= CpuTier::kAvx512CoreBf16) {
    EXPECT_STREQ(FusedAttentionKernel(dt::bf16, 64), "avx512_bf16");
  } else {
    EXPECT_EQ(FusedAttentionKernel(dt::bf16, 64), nullptr);
  }
  EXPECT_EQ(FusedAttentionKernel(dt::bf16, 9), nullptr);
  EXPECT_EQ(FusedAttentionSupported(dt::f32, 64), f32 != nullptr);
  std::printf("tier %s: f32 kernel %s\n", CpuTierName(tier), f32 ? f32 : "none");
}

TEST(FusedAttention, Bf16NeedsAnEvenHeadSize) { EXPECT_FALSE(FusedAttentionSupported(dt::bf16, 9)); }

// A masked-out head attends to nothing: its context is exactly zero.
TEST(FusedAttention, ZeroHeadMaskGivesZeroContext) {
  if (!FusedAttentionKernel(dt::f32, 16)) GTEST_SKIP() << "no fused f32 kernel at this CPU tier";
  const AttentionShape shape{1, 9, 2, 16};
  std::vector<float> qkv(9 * 3 * 32), mask{0.f, 1.f}, context(9 * 32, -1.f);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = std::sin(float(i));
  FusedAttention(F32View(qkv.data()), shape, nullptr, mask.data(), nullptr, F32View(context.data()));
  for (int64_t n = 0; n < 9; ++n) {
    for (int64_t j = 0; j < 16; ++j) EXPECT_EQ(context[n * 32 + j], 0.f);
    EXPECT_NE(context[n * 32 + 16], 0.f);
  }
}

// Softmax's exp at the ends of its range (scores all 0, so P is exp(bias) / sum): exp(-inf) is
// exactly 0, exp below about -87.3 is subnormal and exp(-104) rounds to 0, as the correctly
// rounded values are (within one rounding of the quotient). A NaN in a row of bias makes that
// row NaN and leaves the others alone.
TEST(FusedAttention, F32SoftmaxUnderflowAndNaN) {
  if (!FusedAttentionKernel(dt::f32, 4)) GTEST_SKIP() << "no fused f32 kernel at this CPU tier";
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> row{0.f, -inf, -1.f, -50.f, -87.f, -87.5f, -95.f, -100.f, -103.f, -104.f, -110.f};
  const int64_t N = int64_t(row.size()), d = 4, nan_row = 3;
  std::vector<float> qkv(N * 3 * d, 0.f), bias, probs(N * N), context(N * d);
  for (int64_t m = 0; m < N; ++m) qkv[m * 3 * d + 2 * d] = float(m + 1);  // V[m][0]
  for (int64_t n = 0; n < N; ++n) bias.insert(bias.end(), row.begin(), row.end());
  bias[nan_row * N + 4] = std::numeric_limits<float>::quiet_NaN();
  FusedAttention(F32View(qkv.data()), {1, N, 1, d}, bias.data(), nullptr, probs.data(), F32View(context.data()));

  double sum = 0;
  for (float b : row) sum += std::exp(double(b));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t m = 0; m < N; ++m) {
      const float got = probs[n * N + m];
      if (n == nan_row) {
        EXPECT_TRUE(std::isnan(got)) << "column " << m;
        continue;
      }
      const float want = float(std::exp(double(row[m])) / sum);
      EXPECT_LE(std::fabs(got - want), 2e-6f * want + 2 * std::numeric_limits<float>::denorm_min())
          << "exp(" << row[m] << "): got " << got << ", want " << want;
      if (row[m] <= -104.f) {
        EXPECT_EQ(got, 0.f) << "exp(" << row[m] << ")";
      }
    }
    EXPECT_EQ(std::isnan(context[n * d]), n == nan_row) << "row " << n;
  }
}

}  // namespace
}  // namespace beit
