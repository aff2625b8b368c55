#include "model/beit/beit_layer.h"

#include "model/ops/kernel_policy.h"
#include "model/ops/op_profile.h"

#include <algorithm>

namespace beit {
namespace {

// Scales output row o of a [out, in] weight and its bias by lambda[o]: lambda * (x W^T + b).
void FoldLayerScale(const Tensor& lambda, Tensor& weight, Tensor& bias) {
  const int64_t out = weight.dim(0), in = weight.dim(1);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) weight.data[o * in + i] *= lambda.data[o];
    bias.data[o] *= lambda.data[o];
  }
}

}  // namespace

BeitLayer::BeitLayer(const BeitConfig& config, Checkpoint& ckpt, const std::string& prefix)
    : hidden_(config.hidden_size),
      intermediate_(config.intermediate_size),
      attention_(config.num_attention_heads, config.head_dim()) {
  const int64_t C = hidden_, I = intermediate_;
  const float eps = config.layer_norm_eps;
  layernorm_before_ = LayerNorm(ckpt.TakeBackbone(prefix + "layernorm_before.weight", {C}),
                                ckpt.TakeBackbone(prefix + "layernorm_before.bias", {C}), eps);
  layernorm_after_ = LayerNorm(ckpt.TakeBackbone(prefix + "layernorm_after.weight", {C}),
                               ckpt.TakeBackbone(prefix + "layernorm_after.bias", {C}), eps);

  const std::string att = prefix + "attention.attention.";
  Tensor q = ckpt.TakeBackbone(att + "query.weight", {C, C});
  Tensor k = ckpt.TakeBackbone(att + "key.weight", {C, C});
  Tensor v = ckpt.TakeBackbone(att + "value.weight", {C, C});
  Tensor qb = ckpt.TakeBackbone(att + "query.bias", {C});
  Tensor vb = ckpt.TakeBackbone(att + "value.bias", {C});
  // Transformers scales the scores by 1/sqrt(d); scaling the query projection instead saves a
  // pass over the scores (exact for d = 64, where the factor is a power of two).
  const float query_scale = attention_.query_scale();
  for (float& w : q.data) w *= query_scale;
  for (float& b : qb.data) b *= query_scale;
  Tensor qkv_w({3 * C, C}), qkv_b({3 * C});  // key has no bias in BEiT
  std::copy(q.data.begin(), q.data.end(), qkv_w.data.begin());
  std::copy(k.data.begin(), k.data.end(), qkv_w.data.begin() + C * C);
  std::copy(v.data.begin(), v.data.end(), qkv_w.data.begin() + 2 * C * C);
  std::copy(qb.data.begin(), qb.data.end(), qkv_b.data.begin());
  std::copy(vb.data.begin(), vb.data.end(), qkv_b.data.begin() + 2 * C);
  qkv_ = Linear(qkv_w, &qkv_b, {});

  Tensor ow = ckpt.TakeBackbone(prefix + "attention.output.dense.weight", {C, C});
  Tensor ob = ckpt.TakeBackbone(prefix + "attention.output.dense.bias", {C});
  Tensor w1 = ckpt.TakeBackbone(prefix + "intermediate.dense.weight", {I, C});
  Tensor b1 = ckpt.TakeBackbone(prefix + "intermediate.dense.bias", {I});
  Tensor w2 = ckpt.TakeBackbone(prefix + "output.dense.weight", {C, I});
  Tensor b2 = ckpt.TakeBackbone(prefix + "output.dense.bias", {C});
  if (config.layer_scale()) {
    FoldLayerScale(ckpt.TakeBackbone(prefix + "lambda_1", {C}), ow, ob);
    FoldLayerScale(ckpt.TakeBackbone(prefix + "lambda_2", {C}), w2, b2);
  }
  attention_output_ = Linear(ow, &ob, {"linear", /*accumulate=*/true});
  intermediate_dense_ = Linear(w1, &b1, {config.hidden_act, false});
  output_dense_ = Linear(w2, &b2, {"linear", /*accumulate=*/true});

  if (config.use_relative_position_bias) {
    const int64_t wh = config.patch_grid_height(), ww = config.patch_grid_width();
    relative_position_bias_ = std::make_unique<RelativePositionBias>(
        ckpt.TakeBackbone(att + "relative_position_bias.relative_position_bias_table",
                          {RelativePositionBias::TableRows(wh, ww), config.num_attention_heads}),
        wh, ww, config.num_attention_heads);
  }
}

int64_t LayerScratch::bytes() const {
  return static_cast<int64_t>((normed.capacity() + probs.capacity()) * sizeof(float) +
                              probs_bf16.capacity() * sizeof(uint16_t)) +
         qkv.bytes() + context.bytes() + mlp.bytes();
}

void BeitLayer::Forward(dnnl::stream& stream, float* x, int64_t batch, int64_t tokens, const float* bias,
                        const float* head_mask, bool keep_probs, LayerScratch& s) const {
  using dt = dnnl::memory::data_type;
  const int64_t rows = batch * tokens, C = hidden_;
  // Which activations stay bf16: those whose producer and consumer both work in bf16.
  const Precision precision = qkv_.precision();
  const dt attention_type = AttentionUsesBf16(precision) ? dt::bf16 : dt::f32;
  const dt bf16_linear_input = precision == Precision::kBF16 ? dt::bf16 : dt::f32;
  // The attention writes bf16 context only from bf16 operands.
  const dt context_type = attention_type == dt::bf16 ? bf16_linear_input : dt::f32;
  s.normed.resize(rows * C);
  // [B, H, N, N] is 123 MB per image at 640x640: only when the kernels use it.
  if (attention_.NeedsProbsBuffer(attention_type, keep_probs)) {
    s.probs.resize(batch * attention_.heads() * tokens * tokens);
  }
  const ActivationView qkv = s.qkv.Resize(rows * 3 * C, attention_type);
  const ActivationView context = s.context.Resize(rows * C, context_type);
  const ActivationView mlp = s.mlp.Resize(rows * intermediate_, bf16_linear_input);

  layernorm_before_.Forward(stream, x, rows, s.normed.data());
  qkv_.Forward(stream, F32View(s.normed.data()), rows, tokens, qkv);
  {
    ScopedOpTimer timer(OpClass::kAttention);
    attention_.Forward(stream, qkv, batch, tokens, bias, head_mask, keep_probs, s.probs.data(), context, s.probs_bf16);
  }
  attention_output_.Forward(stream, context, rows, tokens, F32View(x));
  layernorm_after_.Forward(stream, x, rows, s.normed.data());
  intermediate_dense_.Forward(stream, F32View(s.normed.data()), rows, tokens, mlp);
  output_dense_.Forward(stream, mlp, rows, tokens, F32View(x));
}

}  // namespace beit
