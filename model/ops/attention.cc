#include "model/ops/attention.h"

#include <cmath>
#include <unordered_map>
#include <vector>

#include "model/ops/fused_attention.h"
#include "model/model_error.h"

namespace beit {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

AttentionKernels::AttentionKernels(int64_t heads, int64_t head_dim, bool fused)
    : heads_(heads),
      head_dim_(head_dim),
      query_scale_(1.0f / std::sqrt(static_cast<float>(head_dim))),
      fused_(fused) {}

bool AttentionKernels::NeedsProbsBuffer(dt operands, bool keep_probs) const {
  return keep_probs || !(fused_ && FusedAttentionSupported(operands, head_dim_));
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
  if (fused_ && FusedAttentionSupported(T, d)) {
    stream.wait();  // the QKV projection has written qkv
    FusedAttention(qkv, {batch, N, H, d}, bias, head_mask, keep_probs ? probs : nullptr, context);
    return;
  }
  const int64_t element_size = ElementBytes(T);
  const char* qkv_bytes = static_cast<const char*>(qkv.data);

  // Per image: Q as [H, N, d] and K^T as [H, d, N], both strided views into qkv.
  dnnl::memory::desc q_md({H, N, d}, T, dims{d, 3 * C, 1});
  dnnl::memory::desc kt_md({H, d, N}, T, dims{d, 1, 3 * C});
  dnnl::memory::desc s_md({H, N, N}, dt::f32, tag::abc);
  const bool has_bias = bias != nullptr;
  const auto& scores = scores_.GetOrCreate({N, has_bias, T}, [&] {
    dnnl::post_ops ops;
    if (has_bias) ops.append_binary(dnnl::algorithm::binary_add, s_md);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), attr, CpuEngine()));
  });
  for (int64_t b = 0; b < batch; ++b) {
    const char* base = qkv_bytes + b * N * 3 * C * element_size;
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, Wrap(q_md, base)},
        {DNNL_ARG_WEIGHTS, Wrap(kt_md, base + C * element_size)},
        {DNNL_ARG_DST, Wrap(s_md, probs + b * H * N * N)}};
    if (has_bias) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = Wrap(s_md, bias);
    scores.execute(stream, args);
  }

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
  dnnl::memory::desc v_md({batch, H, N, d}, T, dims{N * 3 * C, d, 3 * C, 1});
  dnnl::memory::desc c_md({batch, H, N, d}, context.type, dims{N * C, d, C, 1});
  const auto& ctx = context_.GetOrCreate({batch, N, T, context.type}, [&] {
    return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(pb_md, v_md, c_md), CpuEngine()));
  });
  ctx.execute(stream, {{DNNL_ARG_SRC, Wrap(pb_md, p_operand)},
                       {DNNL_ARG_WEIGHTS, Wrap(v_md, qkv_bytes + 2 * C * element_size)},
                       {DNNL_ARG_DST, Wrap(c_md, context.data)}});
}

}  // namespace beit
