#include "model/ops/attention.h"

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "model/ops/fused_attention.h"
#include "model/ops/kernel_policy.h"
#include "model/model_error.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

AttentionKernels::AttentionKernels(int64_t heads, int64_t head_dim, bool fused)
    : heads_(heads),
      head_dim_(head_dim),
      query_scale_(1.0f / std::sqrt(static_cast<float>(head_dim))),
      fused_(fused) {}

bool AttentionKernels::RunsFused(dt operands) const {
  if (operands == dt::bf16 && ActiveKernelPolicy().bf16_attention_on_onednn) return false;
  return fused_ && FusedAttentionSupported(operands, head_dim_);
}

bool AttentionKernels::NeedsProbsBuffer(dt operands, bool keep_probs) const {
  return keep_probs || !RunsFused(operands);
}

void AttentionKernels::Forward(dnnl::stream& stream, ConstActivationView qkv, int64_t batch, int64_t tokens,
                               const float* bias, const float* head_mask, bool keep_probs, float* probs,
                               ActivationView context, std::vector<uint16_t>& probs_bf16) const {
  const int64_t H = heads_, d = head_dim_, N = tokens, C = H * d;
  const dt T = qkv.type;
  if (T != dt::f32 && T != dt::bf16) throw ModelError("attention operands are f32 or bf16");
  if (context.type != dt::f32 && !(context.type == dt::bf16 && T == dt::bf16)) {
    throw ModelError("attention writes f32 context, or bf16 from bf16 operands");
  }
  if (RunsFused(T)) {
    stream.wait();  // the QKV projection has written qkv
    FusedAttention(qkv, {batch, N, H, d}, bias, head_mask, keep_probs ? probs : nullptr, context);
    return;
  }
  const int64_t element_size = ElementBytes(T);
  const char* qkv_bytes = static_cast<const char*>(qkv.data);

  // Q, K and V copied out of qkv into dense [B, N, C] blocks: oneDNN 2.6's brgemm matmuls (AMX
  // tiles where the CPU has them) take the heads as permuted dense layouts, but leave strided
  // views such as qkv's rows of 3C to its slower GEMM.
  thread_local std::vector<char> split;
  const int64_t block_bytes = batch * N * C * element_size;
  split.resize(static_cast<size_t>(3 * block_bytes));
  char* q = split.data();
  char* k = q + block_bytes;
  char* v = k + block_bytes;
  const int64_t row_bytes = C * element_size;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < batch * N; ++r) {
    const char* row = qkv_bytes + r * 3 * row_bytes;
    std::memcpy(q + r * row_bytes, row, row_bytes);
    std::memcpy(k + r * row_bytes, row + row_bytes, row_bytes);
    std::memcpy(v + r * row_bytes, row + 2 * row_bytes, row_bytes);
  }

  // scores[b, h] = Q[b, h] K[b, h]^T (+ bias[h]): Q as [B, H, N, d] over [B, N, H, d] memory,
  // K^T as [B, H, d, N] over the same. The bias is copied into the scores first and the matmul
  // adds to it (a sum post-op): brgemm has no fast broadcast of a [1, H, N, N] operand.
  const dnnl::memory::desc q_md({batch, H, N, d}, T, tag::acbd);
  const dnnl::memory::desc kt_md({batch, H, d, N}, T, tag::adbc);
  const dnnl::memory::desc s_md({batch, H, N, N}, dt::f32, tag::abcd);
  const bool has_bias = bias != nullptr;
  const auto& scores = scores_.GetOrCreate({batch, N, has_bias, T}, [&] {
    dnnl::post_ops ops;
    if (has_bias) ops.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), attr, CpuEngine()));
  });
  if (has_bias) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < batch; ++b) std::memcpy(probs + b * H * N * N, bias, H * N * N * sizeof(float));
  }
  scores.execute(stream, {{DNNL_ARG_SRC, Wrap(q_md, q)}, {DNNL_ARG_WEIGHTS, Wrap(kt_md, k)}, {DNNL_ARG_DST, Wrap(s_md, probs)}});

  // Softmax over each row of scores. With bf16 operands and nobody asking for the probabilities,
  // softmax writes them as bf16 straight away; otherwise f32 in place (then head mask, rounding).
  const int64_t rows = batch * H * N;
  const bool direct_bf16 = T == dt::bf16 && !keep_probs && head_mask == nullptr;
  const dt softmax_dst = direct_bf16 ? dt::bf16 : dt::f32;
  if (T == dt::bf16) probs_bf16.resize(static_cast<size_t>(rows * N));
  dnnl::memory::desc p_md({rows, N}, dt::f32, tag::ab), p_dst_md({rows, N}, softmax_dst, tag::ab);
  const auto& softmax = softmax_.GetOrCreate({rows, softmax_dst}, [&] {
    dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, p_md,
                                        p_dst_md, 1);
    return dnnl::softmax_v2_forward(dnnl::softmax_v2_forward::primitive_desc(desc, CpuEngine()));
  });
  softmax.execute(stream, {{DNNL_ARG_SRC, Wrap(p_md, probs)},
                           {DNNL_ARG_DST, Wrap(p_dst_md, direct_bf16 ? static_cast<void*>(probs_bf16.data()) : probs)}});

  if (head_mask) {
    stream.wait();
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t h = 0; h < H; ++h) {
        float* p = probs + (b * H + h) * N * N;
        const float m = head_mask[h];
        for (int64_t i = 0; i < N * N; ++i) p[i] *= m;
      }
    }
  }
  if (T == dt::bf16 && !direct_bf16) {
    stream.wait();
    RoundToBf16(probs, rows * N, probs_bf16.data());
  }

  // context[b, n, h*d + j] = sum_m probs[b, h, n, m] * V[b, m, h, j]
  const void* p_operand = T == dt::bf16 ? static_cast<const void*>(probs_bf16.data()) : probs;
  dnnl::memory::desc pb_md({batch, H, N, N}, T, tag::abcd);
  dnnl::memory::desc v_md({batch, H, N, d}, T, tag::acbd);
  dnnl::memory::desc c_md({batch, H, N, d}, context.type, tag::acbd);
  const auto& ctx = context_.GetOrCreate({batch, N, T, context.type}, [&] {
    return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(pb_md, v_md, c_md), CpuEngine()));
  });
  ctx.execute(stream, {{DNNL_ARG_SRC, Wrap(pb_md, p_operand)},
                       {DNNL_ARG_WEIGHTS, Wrap(v_md, v)},
                       {DNNL_ARG_DST, Wrap(c_md, context.data)}});
}

}  // namespace beit
